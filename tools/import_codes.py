"""One-time import of ../shared/clinical/codes.json into FHIR ValueSet files in fhir/valuesets/.

The ValueSet JSON files are the source of truth after import: informaticists edit them, not
this script. Re-running it overwrites them (use it only to re-baseline from a new codes.json).
Each code keeps its source and confidence tag as extensions; ICD-10-CM "prefix" codes become
`is-a` filters (F33 is-a F33 covers F33.1), so hierarchy matching is explicit in the data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODES = ROOT.parent / "shared" / "clinical" / "codes.json"
OUT = ROOT / "fhir" / "valuesets"
BASE = "http://ketamine-cds.org/fhir"
EXT_CONF = f"{BASE}/StructureDefinition/confidence"
EXT_SRC = f"{BASE}/StructureDefinition/source"
EXT_NOTE = f"{BASE}/StructureDefinition/note"
EXT_TEXT = f"{BASE}/StructureDefinition/match-text"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
SYNONYM = {"system": SNOMED, "code": "900000000000013009", "display": "Synonym"}

# target id -> (title, description, [(source set, codes or "*")], match text names?)
PLAN: dict[str, tuple[str, str, list[tuple[str, list[str] | str]], bool]] = {
    "major-depressive-disorder": (
        "Major depressive disorder, current episode",
        "Unipolar MDD with a current episode (ELIG-DX-01). Remission codes are in mdd-in-remission.",
        [("mdd_active_icd10", "*"), ("mdd_snomed", "*")],
        False,
    ),
    "mdd-in-remission": (
        "Major depressive disorder in remission",
        "Remission codes mean no current episode (ELIG-DX-01, ELIG-TRD-05).",
        [("mdd_remission_icd10", "*")],
        False,
    ),
    "bipolar-disorder": (
        "Bipolar disorder",
        "Bipolar depression is not the label indication; mania risk precaution (PREC-08).",
        [("bipolar", "*")],
        False,
    ),
    "psychosis": (
        "Psychotic disorders and psychotic features",
        "PREC-03, KPREC-03.",
        [("psychosis", "*")],
        False,
    ),
    "substance-use-disorder": (
        "Substance use disorders",
        "PREC-04, KPREC-04; F16 covers ketamine (hallucinogen-related). Nicotine (F17) excluded.",
        [("sud", "*")],
        False,
    ),
    "aneurysmal-vascular-disease": (
        "Aneurysmal vascular disease",
        "CI-ABS-01, KCI-ABS-03: aortic, intracranial or peripheral arterial aneurysm.",
        [("aneurysm", "*")],
        False,
    ),
    "arteriovenous-malformation": (
        "Arteriovenous malformation",
        "CI-ABS-02, KCI-ABS-03.",
        [("avm", "*")],
        False,
    ),
    "intracerebral-hemorrhage": (
        "Intracerebral haemorrhage, history",
        "CI-ABS-03: any past intracerebral haemorrhage.",
        [("ich", "*")],
        False,
    ),
    "pregnancy": (
        "Pregnancy (conditions and findings)",
        "CI-STOP-02, KCI-STOP-01: a condition or finding that says the patient is pregnant.",
        [("pregnancy", ["Z33.1", "Z34", "O09", "Z3A", "77386006"])],
        False,
    ),
    "pregnancy-status-observation": (
        "Pregnancy status and pregnancy tests",
        "DATA-03: observations that state pregnancy status or an hCG test result.",
        [("pregnancy", ["82810-3", "2106-3", "2118-8", "21198-7"])],
        False,
    ),
    "pregnancy-positive-answer": (
        "Pregnancy status: pregnant",
        "Answers meaning pregnant.",
        [("pregnancy", ["LA15173-0", "77386006"])],
        False,
    ),
    "pregnancy-negative-answer": (
        "Pregnancy status: not pregnant",
        "Answers meaning not pregnant.",
        [("pregnancy", ["LA26683-5", "60001007"])],
        False,
    ),
    "breastfeeding": ("Breastfeeding", "PREC-06, KPREC-10.", [("lactation", "*")], False),
    "hypertension": (
        "Hypertension (diagnosis)",
        "PREC-01/PREC-02 context: a hypertension diagnosis. Elevated readings are decided from BP observations, not from R03.0.",
        [
            (
                "hypertension",
                ["I10", "I11", "I12", "I13", "I15", "I16.0", "I16.1", "I16.9", "59621000", "38341003"],
            )
        ],
        False,
    ),
    "recent-cardiovascular-event": (
        "Acute cardiovascular or cerebrovascular events",
        "CI-ABS-05 (EU absolute within 6 weeks), PREC-02 (US): events whose onset date decides recency.",
        [
            (
                "cv_cerebrovascular",
                ["I21", "I22", "I20.0", "I63", "G45.9", "22298006", "230690007", "422504002", "266257000"],
            )
        ],
        False,
    ),
    "cardiovascular-disease": (
        "Cardiovascular disease",
        "PREC-02, KPREC-06: MI history, heart failure, valve disease, arrhythmia.",
        [
            (
                "cv_cerebrovascular",
                [
                    "I21",
                    "I22",
                    "I25.2",
                    "I20.0",
                    "I50",
                    "I35.0",
                    "I34.0",
                    "I48",
                    "22298006",
                    "414545008",
                    "84114007",
                    "49436004",
                ],
            )
        ],
        False,
    ),
    "cerebrovascular-disease": (
        "Cerebrovascular disease",
        "PREC-02: stroke, TIA and their history.",
        [
            (
                "cv_cerebrovascular",
                ["I63", "G45.9", "Z86.73", "62914000", "230690007", "422504002", "266257000"],
            )
        ],
        False,
    ),
    "elevated-intracranial-pressure": (
        "Raised intracranial pressure and brain injury",
        "PREC-07, KPREC-05.",
        [("icp_eye", ["G93.2", "G93.6", "G91", "S06", "C71"]), ("hypertension", ["I67.4"])],
        False,
    ),
    "glaucoma": (
        "Glaucoma / raised intraocular pressure",
        "PREC-07, KPREC-05 (intraocular pressure).",
        [("icp_eye", ["H40"])],
        False,
    ),
    "hepatic-impairment": (
        "Hepatic impairment (diagnoses)",
        "CI-STOP-03, PREC-05, KPREC-07: cirrhosis and hepatic failure. Child-Pugh class is computed from labs.",
        [("hepatic", ["K72.1", "K72.9", "K74.6", "K70.3", "19943007"])],
        False,
    ),
    "bilirubin-total": ("Total bilirubin", "Child-Pugh input.", [("hepatic", ["1975-2"])], False),
    "albumin": ("Serum albumin", "Child-Pugh input.", [("hepatic", ["1751-7"])], False),
    "inr": ("INR", "Child-Pugh input.", [("hepatic", ["6301-6"])], False),
    "hyperthyroidism": ("Hyperthyroidism", "PREC-09, KPREC-09.", [("other_precautions", ["E05"])], False),
    "respiratory-risk": (
        "Respiratory risk: COPD, obstructive sleep apnoea",
        "PREC-10 (with BMI >= 35 computed from observations).",
        [("other_precautions", ["J44", "G47.33"])],
        False,
    ),
    "suicidal-ideation": (
        "Suicidal ideation or behaviour",
        "PREC-12, ELIG-MDSI-01.",
        [("other_precautions", ["R45.851", "T14.91", "Z91.51", "6471006"])],
        False,
    ),
    "ect": (
        "Electroconvulsive therapy",
        "ELIG-TRD-06: recorded and shown, not counted as an antidepressant trial.",
        [("ect_and_admin", ["90870", "23835007"])],
        False,
    ),
    "esketamine": (
        "Esketamine products",
        "Treatment product; hypersensitivity (CI-ABS-04); prior exposure.",
        [("ketamine_esketamine", ["2201623", "2201625", "50458-028-02", "50458-028-03"])],
        True,
    ),
    "ketamine": (
        "Ketamine (racemic)",
        "Treatment product; hypersensitivity (KCI-ABS-02); prior exposure.",
        [("ketamine_esketamine", ["6130"])],
        True,
    ),
    "antidepressants": (
        "Antidepressants (ingredients)",
        "ELIG-TRD-01/02: ingredients counted as antidepressant trials.",
        [("antidepressants", "*")],
        True,
    ),
    "augmentation-agents": (
        "Augmentation agents",
        "ELIG-TRD-06: recorded and shown, not counted as a distinct antidepressant.",
        [("augmentation", "*")],
        True,
    ),
    "benzodiazepines": ("Benzodiazepines", "DDI-01, DDI-08, DDI-09.", [("benzodiazepines", "*")], True),
    "opioids-and-sedatives": (
        "Opioids, alcohol and other CNS depressants",
        "DDI-01, DDI-08.",
        [("opioids_cns", "*")],
        True,
    ),
    "maois": ("Monoamine oxidase inhibitors", "DDI-03.", [("maois", "*")], True),
    "psychostimulants": ("Psychostimulants", "DDI-02, DDI-07.", [("stimulants", "*")], True),
    "theophylline": (
        "Theophylline and aminophylline",
        "DDI-06.",
        [("ketamine_specific_ddi", ["10438", "689"])],
        True,
    ),
    "memantine": (
        "Memantine and other NMDA antagonists",
        "DDI-11.",
        [("ketamine_specific_ddi", ["6719", "3289"])],
        True,
    ),
    "lamotrigine": ("Lamotrigine", "DDI-10.", [("ketamine_specific_ddi", ["28439"])], True),
    "blood-pressure": (
        "Blood pressure observations",
        "DATA-01, PREC-01.",
        [("vitals", ["85354-9", "8480-6", "8462-4"])],
        False,
    ),
    "systolic-blood-pressure": (
        "Systolic blood pressure",
        "Component code.",
        [("vitals", ["8480-6"])],
        False,
    ),
    "diastolic-blood-pressure": (
        "Diastolic blood pressure",
        "Component code.",
        [("vitals", ["8462-4"])],
        False,
    ),
    "body-weight": ("Body weight", "DATA-02, DOSE-KET-01.", [("vitals", ["29463-7"])], False),
    "body-height": ("Body height", "Ideal body weight, BMI.", [("vitals", ["8302-2"])], False),
    "body-mass-index": ("Body mass index", "PREC-10.", [("vitals", ["39156-5"])], False),
    "phq9-total": (
        "PHQ-9 total score",
        "Depression severity (MON-01).",
        [("scales", ["44261-6", "720433000"])],
        False,
    ),
    "cssrs": (
        "C-SSRS items and suicide risk level",
        "ELIG-MDSI-01, MON-02.",
        [
            (
                "scales",
                ["93246-7", "93247-5", "93248-3", "93249-1", "93250-9", "93267-3", "93269-9", "93374-7"],
            )
        ],
        False,
    ),
}

BRANDS = {
    "sertraline": ["Zoloft"],
    "fluoxetine": ["Prozac", "Sarafem"],
    "escitalopram": ["Lexapro", "Cipralex"],
    "citalopram": ["Celexa", "Cipramil"],
    "paroxetine": ["Paxil", "Seroxat", "Pexeva"],
    "fluvoxamine": ["Luvox"],
    "venlafaxine": ["Effexor"],
    "desvenlafaxine": ["Pristiq"],
    "duloxetine": ["Cymbalta"],
    "levomilnacipran": ["Fetzima"],
    "mirtazapine": ["Remeron"],
    "bupropion": ["Wellbutrin", "Zyban", "Aplenzin"],
    "vilazodone": ["Viibryd"],
    "vortioxetine": ["Trintellix", "Brintellix"],
    "trazodone": ["Desyrel", "Oleptro"],
    "amitriptyline": ["Elavil"],
    "nortriptyline": ["Pamelor", "Aventyl"],
    "imipramine": ["Tofranil"],
    "desipramine": ["Norpramin"],
    "clomipramine": ["Anafranil"],
    "doxepin": ["Sinequan"],
    "protriptyline": ["Vivactil"],
    "trimipramine": ["Surmontil"],
    "phenelzine": ["Nardil"],
    "tranylcypromine": ["Parnate"],
    "isocarboxazid": ["Marplan"],
    "selegiline": ["Emsam"],
    "aripiprazole": ["Abilify"],
    "brexpiprazole": ["Rexulti"],
    "quetiapine": ["Seroquel"],
    "olanzapine": ["Zyprexa"],
    "lithium carbonate": ["lithium", "Lithobid"],
    "lamotrigine": ["Lamictal"],
    "esketamine Nasal Spray [Spravato] (SBDF)": ["esketamine", "Spravato"],
    "esketamine Nasal Spray (SCDF)": ["esketamine"],
    "ketamine (IN)": ["ketamine", "Ketalar"],
    "alprazolam": ["Xanax"],
    "clonazepam": ["Klonopin"],
    "diazepam": ["Valium"],
    "lorazepam": ["Ativan"],
    "temazepam": ["Restoril"],
    "zolpidem": ["Ambien"],
    "memantine": ["Namenda"],
    "methylphenidate": ["Ritalin", "Concerta"],
    "lisdexamfetamine": ["Vyvanse"],
    "modafinil": ["Provigil"],
    "armodafinil": ["Nuvigil"],
    "theophylline": ["Theo-24", "Uniphyl"],
}
# Ingredient names for text matching where the display is not the bare ingredient.
NAME_OVERRIDE = {
    "ketamine (IN)": "ketamine",
    "lithium carbonate": "lithium carbonate",
    "ethanol": "ethanol",
    "methylene blue": "methylene blue",
}

# Extra value sets that codes.json does not have (codes from memory: confidence M, verify).
ANTIHYPERTENSIVES = [
    ("29046", "lisinopril"),
    ("3827", "enalapril"),
    ("17767", "amlodipine"),
    ("52175", "losartan"),
    ("69749", "valsartan"),
    ("5487", "hydrochlorothiazide"),
    ("2409", "chlorthalidone"),
    ("6918", "metoprolol"),
    ("1202", "atenolol"),
    ("20352", "carvedilol"),
    ("2599", "clonidine"),
]


def _ext(code: dict[str, str]) -> list[dict[str, str]]:
    ext = [
        {"url": EXT_CONF, "valueCode": code["confidence"]},
        {"url": EXT_SRC, "valueString": code["source"]},
    ]
    if code.get("note"):
        ext.append({"url": EXT_NOTE, "valueString": code["note"]})
    return ext


def build(
    vs_id: str,
    title: str,
    description: str,
    parts: list[tuple[str, list[str] | str]],
    text: bool,
    sets: dict[str, dict],
) -> dict:
    includes: dict[str, list[dict]] = {}
    filters: list[dict] = []
    for set_id, wanted in parts:
        for code in sets[set_id]["codes"]:
            if wanted != "*" and code["code"] not in wanted:
                continue
            system = code["system"]
            if code["match"] == "prefix" or code["match"] == "descendants":
                filters.append(
                    {
                        "system": system,
                        "filter": [
                            {
                                "property": "concept",
                                "op": "is-a",
                                "value": code["code"],
                                "extension": [
                                    *_ext(code),
                                    {
                                        "url": f"{BASE}/StructureDefinition/display",
                                        "valueString": code["display"],
                                    },
                                ],
                            }
                        ],
                    }
                )
                continue
            concept: dict = {"code": code["code"], "display": code["display"], "extension": _ext(code)}
            names = BRANDS.get(code["display"], [])
            if names:
                concept["designation"] = [{"use": SYNONYM, "value": n} for n in names]
            includes.setdefault(system, []).append(concept)
    compose = [{"system": s, "concept": c} for s, c in includes.items()] + filters
    vs: dict = {
        "resourceType": "ValueSet",
        "id": vs_id,
        "url": f"{BASE}/ValueSet/{vs_id}",
        "version": "2026.11.0",
        "name": "".join(w.capitalize() for w in vs_id.split("-")),
        "title": title,
        "status": "draft",
        "description": description + " Imported from shared/clinical/codes.json (2026-11-27).",
        "compose": {"include": compose},
    }
    if text:
        vs["extension"] = [{"url": EXT_TEXT, "valueBoolean": True}]
    return vs


def main() -> int:
    data = json.loads(CODES.read_text())
    sets = {v["id"]: v for v in data["value_sets"]}
    OUT.mkdir(parents=True, exist_ok=True)
    for vs_id, (title, desc, parts, text) in PLAN.items():
        vs = build(vs_id, title, desc, parts, text, sets)
        (OUT / f"{vs_id}.json").write_text(json.dumps(vs, indent=2, ensure_ascii=False) + "\n")
    anti = {
        "resourceType": "ValueSet",
        "id": "antihypertensives",
        "url": f"{BASE}/ValueSet/antihypertensives",
        "version": "2026.11.0",
        "name": "Antihypertensives",
        "title": "Antihypertensives (common ingredients)",
        "status": "draft",
        "extension": [{"url": EXT_TEXT, "valueBoolean": True}],
        "description": "DDI-13 (informational). Not in codes.json: well-known RxNorm ingredient codes from memory, confidence M - verify before production.",
        "compose": {
            "include": [
                {
                    "system": RXNORM,
                    "concept": [
                        {
                            "code": c,
                            "display": n,
                            "extension": [
                                {"url": EXT_CONF, "valueCode": "M"},
                                {"url": EXT_SRC, "valueString": "RxNorm (from memory; not in codes.json)"},
                            ],
                        }
                        for c, n in ANTIHYPERTENSIVES
                    ],
                }
            ]
        },
    }
    (OUT / "antihypertensives.json").write_text(json.dumps(anti, indent=2) + "\n")
    print(f"wrote {len(PLAN) + 1} value sets to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
