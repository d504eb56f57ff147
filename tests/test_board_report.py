"""The board report end to end: extracts through the store to HTML and PDF, by the monthly DAG and by `mash report
board`; the HTML seen in headless Chromium, the PDF turned into page images."""

from __future__ import annotations

import re
import subprocess
from datetime import date, datetime, timezone

import numpy as np
from matplotlib import image

from mash.cli import main
from mash.contracts import agencies, contracts
from mash.delivery import deliver
from mash.ingest import ingest_agency
from mash.link.population import match_children
from mash.link.records import current_batches, records_from_night
from mash.quality import validate_agency
from mash.quality.frames import batch_frames
from mash.report.browser import run_chromium
from mash.report.figures import Month, children_on_plans
from mash.store import migrate
from mash.synth import generate


def _store_with_two_nights(home, tmp_path):
    generate(children=1500, seed=21, nights=2, out=tmp_path / "synth", start=date(2026, 11, 2))
    engine = migrate(home.db_url())
    for night in ("night-01", "night-02"):
        deliver(tmp_path / "synth" / night, home)
        for agency in agencies():
            ingest_agency(agency, home, engine)
            validate_agency(agency, home, engine)
        match_children(engine, night)
    return engine


def test_board_report_renders_in_chromium_and_prints_to_pdf_pages(home, tmp_path, airflow_db):
    # No capsys here: dag.test() would point Airflow's log handlers at capsys's stream, closed after this test.
    engine = _store_with_two_nights(home, tmp_path)

    from airflow.dag_processing.dagbag import DagBag
    from tests.conftest import REPO
    dag = DagBag(dag_folder=REPO / "dags").dags["mash_board_report"]
    run = dag.test(logical_date=datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc))
    assert run.state == "success"
    by_dag = home.reports / "board" / "2026-11"
    assert {p.name for p in by_dag.iterdir()} == {"board-2026-11.html", "board-2026-11.pdf"}

    out = tmp_path / "report"
    assert main(["report", "board", "--month", "2026-11", "--out", str(out)]) == 0
    html, pdf = out / "board-2026-11.html", out / "board-2026-11.pdf"
    assert {p.name for p in out.iterdir()} == {html.name, pdf.name}

    # What Chromium made of the HTML: its DOM after loading, and a screenshot with something drawn on it.
    dom = run_chromium("--dump-dom", html.resolve().as_uri()).stdout
    assert "<h1>Safeguarding partnership board report</h1>" in dom
    assert dom.count("<table") >= 14 and dom.count("<svg") == 3
    with engine.connect() as conn:
        sc = batch_frames(conn, contracts()["social_care"], current_batches(engine)["social_care"])
    on_plans = len(children_on_plans(sc, Month.parse("2026-11")))
    assert on_plans > 0
    category_table = dom.split("by category and gender</h3>")[1].split("</table>")[0]
    assert re.search(rf"<th>Total</th>(\s*<td>(\d+|c)</td>)*\s*<td>{on_plans}</td>\s*</tr>", category_table)
    # Small numbers: no count of 1 to 4 children in sections 2 and 3, withheld ones shown as c (suppression).
    management = dom.split('id="management-information"')[1]
    assert not re.search(r"<td>[1-4]</td>", management), "a count from 1 to 4 is shown"
    assert management.count("<td>c</td>") >= 2
    shot = tmp_path / "shot.png"
    run_chromium(f"--screenshot={shot}", "--window-size=1200,1600", html.resolve().as_uri())
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (1600, 1200) and float(np.std(pixels)) > 0.05

    # The PDF: pages, each one an image with ink on it, and the report's text in it.
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 3
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    assert all(float(np.std(image.imread(p))) > 0.01 for p in images)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Safeguarding partnership board report" in text and "Section 47 enquiries per quarter" in text

    # No value from an extract reaches the report: names, NHS numbers, postcodes, addresses.
    records = records_from_night(tmp_path / "synth" / "night-02")
    values = {v for column in ("given_name", "family_name", "nhs_number", "postcode", "address")
              for v in records[column] if len(v) >= 6}
    assert len(values) > 1000
    leaked = {v for v in values if v in dom or v in text}
    assert not leaked, f"{len(leaked)} values from the extracts reached the report"
