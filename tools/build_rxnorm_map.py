"""Generate fhir/rxnorm/product-ingredients.json: RxNorm products (SCD, SBD, GPCK, BPCK) and
their NDCs -> ingredients, for every ingredient a rule or trial reads (the RxNorm concepts of the
drug value sets in fhir/valuesets/ that cds/facts/medications.py matches).

Sources (both public, RxNorm-derived; nothing here is hand-typed):
1. `davidanderson3/rxnorm-ingredients` (GitHub) @ a8fcf13a679fa37073e8fa83e11d5e0d8cc07276,
   `web/data/<letter>.json`: per ingredient (IN/PIN/MIN) its SCDCs -> SCDs -> SBDs, GPCKs, BPCKs,
   with SAB=RXNORM NDCs (RXNSAT ATN=NDC), extracted from the RxNorm Current Prescribable Content
   RRF files with SUPPRESS='N'. The release is RxNorm 2025-10-06 (the NLM readme
   `Readme_Full_Prescribe_10062025.txt` the same author committed at 8d3acaf; the data files carry no
   stamp). The repository states no licence. Read from a git snapshot (`fetch` tool or `git clone`)
   at the fixed commit.
   Its `web/data/A.json` (and the whole-set `rxnorm_ingredients.json`) are listed in the tree but
   their content is not in the stored snapshot (the largest files are left out); the later commits
   (e5426fe, 2810603, 8d3acaf, bd364a8) remove the data and no commit splits A differently, so the
   ingredients beginning with A have no record of their own. Their
   combination products are still in the other letters' files (under the other ingredient: amlodipine
   / benazepril under B, atenolol / chlorthalidone under C, the mixed amphetamine salts under D): for
   an ingredient whose letter file is missing, every product of the other files whose generic name
   names it (whole word, outside the [brand]) gets it as an ingredient, with that product's NDCs.
   Single-ingredient products of those ingredients (alprazolam, amlodipine, atenolol ... alone) have
   no NDCs in any source found; see README "What ketamine-cds reads".
2. The VSAC and CDC ValueSet expansions in ../shared/terminology (SOURCES.md): RxNorm SCD/SBD
   codes with their displays; the ingredients of a product are the wanted ingredient names found
   in its display (RxNorm SCD/SBD names begin with the precise ingredients, " / " between them).
   No NDCs.

Usage:
    python tools/build_rxnorm_map.py --git-dir /work/.mirror/davidanderson3+rxnorm-ingredients/repo \
        --commit a8fcf13a679fa37073e8fa83e11d5e0d8cc07276 [--terminology ../shared/terminology]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cds.facts.medications import DRUG_VALUESETS  # noqa: E402

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OUT = ROOT / "fhir" / "rxnorm" / "product-ingredients.json"
REPO = "davidanderson3/rxnorm-ingredients"
LETTERS = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0-9"]
TERMINOLOGY_FILES = (
    "antidepressant-medication.json",
    "adult-depression-medications.json",
    "benzodiazepine-medications-cdc.json",
    "schedule-iv-benzodiazepines.json",
    "potentially-harmful-benzodiazepines-older-adults.json",
    "potentially-harmful-antipsychotics-older-adults.json",
    "opioids-all.json",
    "opioid-analgesics-ambulatory-misuse-cdc.json",
    "schedule-ii-iii-iv-opioid-medications.json",
    "buprenorphine-and-methadone-medications-cdc.json",
    "cns-depressant-medications-cdc.json",
    "central-nervous-system-depressants.json",
    "amphetamines-class-medications-cdc.json",
    "dextroamphetamine.json",
    "lisdexamfetamine.json",
    "methylphenidate.json",
    "dexmethylphenidate.json",
    "pharmacologic-therapy-for-hypertension.json",
)


def wanted_ingredients() -> tuple[dict[str, str], set[str]]:
    """(RxNorm ingredient code -> name, names of ingredients the value sets list only as products
    such as esketamine's SCDF/SBDF: their ingredient code is looked up by name in the source)."""
    out: dict[str, str] = {}
    by_product: set[str] = set()
    for vs_id in DRUG_VALUESETS:
        data = json.loads((ROOT / "fhir" / "valuesets" / f"{vs_id}.json").read_text())
        for inc in data["compose"]["include"]:
            if inc["system"] != RXNORM:
                continue
            for c in inc.get("concept", []):
                display = c.get("display", "")
                if "(" in display and not display.endswith("(IN)"):
                    by_product.add(display.split()[0].lower())
                    continue
                out[c["code"]] = re.sub(r"\s*\(.*$", "", display).strip().lower()
    return out, by_product - set(out.values())


def _git_json(git_dir: Path, commit: str, path: str) -> Any:
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, check=False
    )
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None  # a large-file pointer, not the data


def _ingredient_count(name: str) -> int:
    return name.count(" / ") + 1


def _letter(name: str) -> str:
    first = name[:1].upper()
    return first if first.isalpha() else "0-9"


def _name_pattern(name: str) -> re.Pattern[str]:
    # Whole word: "amphetamine" must not match inside "dextroamphetamine" or "methamphetamine".
    return re.compile(r"(?<![A-Za-z])" + re.escape(name) + r"(?![A-Za-z])", re.I)


def _generic_name(name: str) -> str:
    """The product name without its trailing [brand] (a brand may spell another drug's name)."""
    return re.sub(r"\s*\[[^\]]*\]\s*$", "", name)


def _items(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every product of an ingredient record: its SCDs and their SBDs and packs."""
    out: list[dict[str, Any]] = []
    for scdc in rec.get("SCDCs", []):
        for scd in scdc.get("SCDs", []):
            out.append(scd)
            for key in ("SBDs", "GPCKs", "BPCKs"):
                out.extend(scd.get(key, []))
    return out


def from_repository(
    git_dir: Path, commit: str, wanted: dict[str, str], by_product: set[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str], list[str], int]:
    """(products, NDC -> product, letters missing from the snapshot, products holding an ingredient
    of a missing letter, found by name)."""
    products: dict[str, dict[str, Any]] = {}
    ndc: dict[str, str] = {}
    files = {letter: _git_json(git_dir, commit, f"web/data/{letter}.json") for letter in LETTERS}
    missing_letters = [letter for letter, records in files.items() if records is None]
    names = {name: code for code, name in wanted.items()}
    # Ingredients with no record of their own (their letter file is missing): found by name.
    orphans = {code: _name_pattern(name) for code, name in wanted.items() if _letter(name) in missing_letters}
    for letter in LETTERS:
        records = files.pop(letter)
        if records is None:
            continue
        for rec in records:
            if rec["TTY"] == "IN" and rec["Name"].lower() in by_product:
                wanted[rec["RXCUI"]] = rec["Name"].lower()
                names[rec["Name"].lower()] = rec["RXCUI"]
            code = (wanted.get(rec["RXCUI"]) and rec["RXCUI"]) or names.get(rec["Name"].lower())
            for item in _items(rec):
                found = [c for c, pat in orphans.items() if pat.search(_generic_name(item["Name"]))]
                for c in [code, *found] if code else found:
                    _add(products, ndc, item, c)
    by_name = sum(1 for p in products.values() if set(p["ingredients"]) & set(orphans))
    return products, ndc, missing_letters, by_name


def _add(products: dict[str, dict[str, Any]], ndc: dict[str, str], item: dict[str, Any], code: str) -> None:
    entry = products.setdefault(
        item["RXCUI"],
        {
            "tty": item["TTY"],
            "name": item["Name"],
            "ingredients": [],
            "ingredient_count": None if item["TTY"].endswith("PCK") else _ingredient_count(item["Name"]),
        },
    )
    if code not in entry["ingredients"]:
        entry["ingredients"].append(code)
        entry["ingredients"].sort(key=int)
    for n in item.get("NDCs", []):
        if ndc.setdefault(n, item["RXCUI"]) == item["RXCUI"] and n not in entry.setdefault("ndc", []):
            entry["ndc"].append(n)


def _packed(product: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in product.items() if k != "ndc"}
    if product.get("ndc"):
        out["ndc"] = " ".join(sorted(product["ndc"]))
    return out


def from_terminology(
    folder: Path, wanted: dict[str, str], products: dict[str, dict[str, Any]]
) -> tuple[int, list[str]]:
    """(products added, the RxNorm versions the expansions state for the codes read)."""
    patterns = [
        (code, re.compile(r"(?<![A-Za-z])" + re.escape(name) + r"(?![A-Za-z])", re.I))
        for code, name in wanted.items()
    ]
    added = 0
    versions: set[str] = set()
    for fname in TERMINOLOGY_FILES:
        data = json.loads((folder / fname).read_text())
        for c in data.get("expansion", {}).get("contains", []):
            if c.get("system") != RXNORM:
                continue
            versions.add(str(c.get("version") or "not stated"))
            if c["code"] in products:
                continue
            display = c.get("display", "")
            # The ingredient part of an RxNorm name: before the first strength figure of each part.
            hits = sorted({code for code, pat in patterns if pat.search(display)}, key=int)
            if not hits:
                continue
            products[c["code"]] = {
                "tty": "SBD" if display.rstrip().endswith("]") else "SCD",
                "name": display,
                "ingredients": hits,
                "ingredient_count": _ingredient_count(display),
            }
            added += 1
    return added, sorted(versions)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--git-dir", type=Path, required=True, help=f"git directory of a {REPO} snapshot")
    ap.add_argument("--commit", required=True)
    ap.add_argument("--terminology", type=Path, default=ROOT.parent / "shared" / "terminology")
    ap.add_argument("--output", type=Path, default=OUT)
    args = ap.parse_args()
    wanted, by_product = wanted_ingredients()
    products, ndc, missing, by_name = from_repository(args.git_dir, args.commit, wanted, by_product)
    from_repo = len(products)
    added, versions = from_terminology(args.terminology, wanted, products)
    covered = {i for p in products.values() for i in p["ingredients"]}
    with_ndc = {i for p in products.values() if p.get("ndc") for i in p["ingredients"]}
    # Those whose products have NDCs only in combination with another drug (their own letter file
    # is missing): an NDC of the single-ingredient product is not in the table.
    single_without_ndc = {
        i
        for p in products.values()
        if len(p["ingredients"]) == 1 and p["ingredient_count"] == 1 and not p.get("ndc")
        for i in p["ingredients"]
    } - {
        i for p in products.values() if p.get("ndc") and p["ingredient_count"] == 1 for i in p["ingredients"]
    }
    table = {
        "description": (
            "RxNorm products (SCD, SBD, GPCK, BPCK) and their NDC package codes (11 digits, 5-4-2, space-"
            "separated) -> the ingredients a rule or trial reads. Generated by tools/build_rxnorm_map.py; "
            "do not edit by hand."
        ),
        "version": datetime.now(UTC).strftime("%Y.%m.%d"),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d"),
        "sources": [
            {
                "repository": f"https://github.com/{REPO}",
                "commit": args.commit,
                "path": "web/data/<letter>.json",
                "rxnorm_release": (
                    "RxNorm Current Prescribable Content 2025-10-06 (the NLM readme committed in the same "
                    "repository; the data files carry no release stamp)"
                ),
                "selection": "SAB=RXNORM, SUPPRESS=N; NDCs from RXNSAT ATN=NDC",
                "not_available": (
                    f"letters {', '.join(missing)}: listed in the commit but their content is not in the "
                    "stored snapshot (largest files left out); their ingredients are found by name in the combination "
                    "products of the other letters"
                )
                if missing
                else None,
                "products": from_repo,
                "products_by_name": by_name,
                "licence": "none stated in the repository; RxNorm SAB=RXNORM content (see README)",
            },
            {
                "folder": "../shared/terminology (VSAC eCQM and CDC opioid-CDS expansions, see its SOURCES.md)",
                "files": list(TERMINOLOGY_FILES),
                "products": added,
                "rxnorm_release": f"RxNorm version per code in the expansions: {', '.join(versions)}",
                "note": "ingredients read from the RxNorm display by ingredient name; no NDCs",
                "licence": (
                    "CC0 repositories; VSAC content under the UMLS Metathesaurus licence terms, CDC sets "
                    "(c) CDC (SOURCES.md); only RxNorm codes and names are used"
                ),
            },
        ],
        "ingredients": {code: wanted[code] for code in sorted(wanted, key=int)},
        "ingredients_without_products": sorted(wanted[c] for c in wanted if c not in covered),
        "ingredients_without_ndc": sorted(wanted[c] for c in covered - with_ndc),
        "ingredients_without_single_ingredient_ndc": sorted(wanted[c] for c in single_without_ndc),
        # NDCs as one space-separated string per product: a list of 40,000 JSON strings costs
        # ten times as much to parse, on every cold start.
        "products": {k: _packed(products[k]) for k in sorted(products, key=int)},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(table, indent=0, separators=(",", ":")) + "\n")
    print(
        f"{len(products)} products ({from_repo} from {REPO}, {added} from terminology), {len(ndc)} NDCs, "
        f"{len(covered)}/{len(wanted)} ingredients; missing letters: {missing or 'none'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
