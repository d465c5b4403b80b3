"""Benchmark 2: what the suite's Bundle validation costs next to fhir.resources' models alone.

    python bench/bundle_validation.py [--sizes 1,100,1000,10000] [--runs 5]

For searchset Bundles of 1, 100, 1,000 and 10,000 Observations shaped like the seed's example answer
(category, meta with an extension, encounter, valueQuantity, code, issued, subject; fullUrl, search.mode,
an entry link), with total and a self link, it times:
- models alone: fhir.resources' R4B `Bundle.model_validate(bundle)` (what R4 is validated with);
- the whole: what the suite's seed scenario judges a search answer with, in one call:
  `Verdict.check(*bundle_validation_checks(...), *entry_checks(...), *search_reporting_checks(...))`
  (the models again, the searchset envelope JSON Schema, and the search checks).

Each run times both on the same Bundle, one after the other; the order alternates between runs so
neither always runs warm. Times are CPU time of this process (the work is single-threaded; wall time
on a shared machine would also count other processes' turns). Numbers are medians over the runs;
"whole / models" is the median of the per-run ratios. Target: the whole at most 1.25x the models alone at 1,000 and 10,000 entries.
The last columns split the whole into its parts (medians, timed separately) to show where any excess goes.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import sys
import time

from _common import bounded, median

from conformance import checks
from conformance.fhir import model_errors, resource_model, schema_errors
from conformance.redaction import SecretRegistry
from conformance.verdicts import Verdict

FHIR_BASE = "http://127.0.0.1:8888/fhir"
FHIR_VERSION = "R4"
BUDGET_SECONDS = 360
TARGET = 1.25

OBSERVATION = {
    "category": [{"coding": [{"code": "laboratory", "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                              "display": "laboratory"}]}],
    "meta": {"lastUpdated": "2024-08-29T15:51:05.117806Z", "versionId": "74",
             "extension": [{"url": "https://fhir.aidbox.app/fhir/StructureDefinition/created-at",
                            "valueInstant": "2024-08-29T15:51:05.117806Z"}]},
    "encounter": {"reference": "Encounter/67b8fa04-6e1b-4074-8b8c-3ec44bfec48f"},
    "valueQuantity": {"code": "%", "unit": "%", "value": 2.856519918445372, "system": "http://unitsofmeasure.org"},
    "resourceType": "Observation",
    "effectiveDateTime": "2014-05-11T12:39:55+04:00",
    "status": "final",
    "id": "00592410-ec4a-4d64-a674-f0bfb244a978",
    "code": {"text": "Hemoglobin A1c/Hemoglobin.total in Blood",
             "coding": [{"code": "4548-4", "system": "http://loinc.org",
                         "display": "Hemoglobin A1c/Hemoglobin.total in Blood"}]},
    "issued": "2014-05-11T12:39:55.513+04:00",
    "subject": {"reference": "Patient/a6a91d7e-7ded-4325-9dbe-42a088e7e039"},
}


def searchset(size: int) -> dict:
    """A searchset Bundle of `size` distinct Observations like the seed's, as a server would page it."""
    entries = []
    for n in range(size):
        resource = copy.deepcopy(OBSERVATION)
        resource["id"] = f"{n:08x}-ec4a-4d64-a674-f0bfb244a978"
        resource["valueQuantity"]["value"] = 2.5 + (n % 1000) / 1000
        resource["encounter"]["reference"] = f"Encounter/{n:08x}-6e1b-4074-8b8c-3ec44bfec48f"
        url = f"{FHIR_BASE}/Observation/{resource['id']}"
        entries.append({"resource": resource, "search": {"mode": "match"}, "fullUrl": url,
                        "link": [{"relation": "self", "url": url}]})
    return {"resourceType": "Bundle", "type": "searchset", "total": size,
            "link": [{"relation": "self", "url": f"{FHIR_BASE}/Observation?code=4548-4&_count={size}"}],
            "entry": entries}


def models_alone(bundle: dict) -> None:
    resource_model(FHIR_VERSION, "Bundle").model_validate(bundle)


def the_whole(bundle: dict) -> None:
    verdict = Verdict(SecretRegistry(), fail_on_should=False)
    verdict.check(
        *checks.bundle_validation_checks(bundle, fhir_version=FHIR_VERSION, count=len(bundle["entry"])),
        *checks.entry_checks(bundle, resource_type="Observation", system=None, code="4548-4"),
        *checks.search_reporting_checks(bundle, fhir_base_url=FHIR_BASE),
    )
    if verdict.warnings or verdict.notes:
        raise RuntimeError(f"the benchmark's Bundle should be clean: {verdict.warnings + verdict.notes}")


def search_checks_only(bundle: dict) -> None:
    """The whole minus valid_fhir_bundle: the searchset, _count, entry and reporting checks."""
    for check_function, *args in (
            *checks.bundle_validation_checks(bundle, fhir_version=FHIR_VERSION, count=len(bundle["entry"]))[1:],
            *checks.entry_checks(bundle, resource_type="Observation", system=None, code="4548-4"),
            *checks.search_reporting_checks(bundle, fhir_base_url=FHIR_BASE)):
        check_function(*args)


def timed(function, bundle: dict, repeat: int) -> float:
    """CPU seconds of this process per call, over `repeat` back-to-back calls, starting from a collected
    heap (so one measurement does not pay for the garbage of the one before). CPU time, not wall time:
    the work is single-threaded and CPU-bound, and on a shared machine wall time also counts the time
    other processes had the CPU."""
    gc.collect()
    started = time.process_time()
    for _ in range(repeat):
        function(bundle)
    return (time.process_time() - started) / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000,10000", help="entries per Bundle [1,100,1000,10000]")
    parser.add_argument("--runs", type=int, default=9, help="runs to take the median of [9]; fewer for"
                                                               " 10,000 entries if the time budget runs out")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    warm = searchset(2)
    if model_errors(FHIR_VERSION, warm) or schema_errors("searchset-bundle", warm):
        sys.exit("the benchmark's Bundle does not validate: fix the benchmark first")
    the_whole(warm)  # imports the models, compiles the schema: once per process, not what is measured

    print(f"{'entries':>8} {'models ms':>10} {'whole ms':>10} {'whole/models':>13} {'target':>7}"
          f" | {'models/Obs µs':>13} {'schema ms':>10} {'checks ms':>10} {'runs':>5}")
    for size in sizes:
        bundle = searchset(size)
        repeat = max(1, 200 // max(size, 1)) if size < 1000 else 1
        models, whole, ratios, schema, rest = [], [], [], [], []
        for run in bounded(args.runs, BUDGET_SECONDS / len(sizes)):
            if run % 2 == 0:
                m, w = timed(models_alone, bundle, repeat), timed(the_whole, bundle, repeat)
            else:
                w, m = timed(the_whole, bundle, repeat), timed(models_alone, bundle, repeat)
            models.append(m)
            whole.append(w)
            ratios.append(w / m)
            schema.append(timed(lambda b: schema_errors("searchset-bundle", b), bundle, repeat))
            rest.append(timed(search_checks_only, bundle, repeat))
        ratio = median(ratios)
        verdict = ("met" if ratio <= TARGET else "NOT met") if size >= 1000 else "-"
        print(f"{size:>8} {median(models) * 1e3:>10.3f} {median(whole) * 1e3:>10.3f} {ratio:>12.2f}x {verdict:>7}"
              f" | {median(models) / max(size, 1) * 1e6:>13.1f} {median(schema) * 1e3:>10.3f}"
              f" {median(rest) * 1e3:>10.3f} {len(ratios):>5}", flush=True)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
