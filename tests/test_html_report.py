"""crossmodal-report: one self-contained page of benchmark folders and runs (tables, charts, curves, evaluations,
commands, configs), checked offline here and, in a slow test, in a real headless browser."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossmodal.cli.report import main as report_main
from crossmodal.eval.render import save_png

SEEDS = (0, 1)


def write_run(run: Path, seed: int, crd: bool) -> Path:
    run.mkdir(parents=True)
    rows = [{"epoch": 1 + step // 10, "step": step, "loss": 10.0 - 0.1 * step - seed, "lr": 0.05 * (1 - step / 40),
             **({"diag/crd/pos_score": 0.01 * step, "diag/crd/neg_score": 0.001} if crd else {})} for step in range(1, 40, 5)]
    rows.append({"epoch": 4, "epoch/loss": 7.0})  # an epoch mean: no step, not a curve point
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n{\"step\": 41, \"loss\"")  # cut by a kill
    (run / "config.yaml").write_text(f"objective:\n  name: {'crd' if crd else 'none'}\nrun:\n  seed: {seed}\n")
    return run


def write_benchmark(folder: Path) -> Path:
    records = []
    for method, base in (("none", 0.3), ("crd", 0.5)):
        for seed in SEEDS:
            run = write_run(folder / "depth" / f"{method}-seed{seed}", seed, method == "crd")
            records.append({"method": method, "seed": seed, "run_dir": str(run), "probe_top1": base + 0.02 * seed,
                            "pixel_accuracy": 0.6, "miou": base / 2, "knn_top1": base - 0.1})
    spec = {"target": "depth", "methods": ["none", "crd"], "seeds": list(SEEDS),
            "evaluation": {"labels": "nyu40", "head": "fcn", "head_lr": None, "extra_protocols": ["scene-knn"]}}
    report = {"command": "crossmodal-benchmark --seeds 2 --protocols scene-knn", "targets": {"depth": {"spec": spec, "runs": records}}}
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def write_evaluated_run(run: Path) -> Path:
    write_run(run, 0, crd=True)
    result = {"top1": 0.625, "miou": 0.2, "class_names": ["a"], "evaluation": {
        "protocol": "segmentation", "key": "segmentation-0123456789ab",
        "settings": {"labels": "nyu40", "head": "fcn", "epochs": 10, "finetune": False, "seed": 0}}}
    (run / "segment.json").write_text(json.dumps(result))
    save_png(np.full((8, 24, 3), 200, dtype=np.uint8), run / "segment.png")
    return run


def embedded_images(page: str) -> list[Image.Image]:
    sources = re.findall(r'<img alt="[^"]*" src="([^"]+)"', page)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    return [Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))) for source in sources]


def test_the_page_holds_tables_charts_curves_evaluations_commands_and_configs_and_needs_no_network(tmp_path, capsys):
    bench, run = write_benchmark(tmp_path / "bench"), write_evaluated_run(tmp_path / "run")
    out = tmp_path / "page.html"
    assert report_main([str(bench), str(run), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert not re.search(r'(src|href)="(?!data:)', page), "every picture inside the page, no link out"
    images = embedded_images(page)
    assert all(image.size[0] > 100 and image.size[1] > 100 for image in images[:-1])
    assert images[-1].size == (24, 8), "the evaluation's own picture, as written"
    # benchmark: the command, its table with the spreads and the kNN column, chart, curves per method, a config
    assert "<code>crossmodal-benchmark --seeds 2 --protocols scene-knn</code>" in page
    assert "<p>Seeds 0, 1; evaluation: labels=nyu40, head=fcn, extra_protocols=scene-knn.</p>" in page
    assert "<th>Scene kNN top-1 (%)</th>" in page and "<td>31.0 ± 1.4</td>" in page and "<td>Random init (none)</td>" in page
    assert 'alt="none training curves: training loss (per logged step); learning rate"' in page
    assert 'alt="crd training curves: training loss (per logged step); CRD critic: positive pair score; ' in page
    assert "<details><summary>Resolved config of none-seed0" in page
    # run: curves, the evaluation's numbers and the command that repeats it, its config
    assert 'alt="run training curves: ' in page and "<h3>segment.json</h3>" in page and "<td>top1</td><td>0.625</td>" in page
    assert f"crossmodal-eval segmentation --run {run} --set labels=&quot;nyu40&quot; head=&quot;fcn&quot;" in page
    assert "objective:\n  name: crd" in page


def test_what_is_not_a_run_or_benchmark_and_several_folders_without_out_are_one_sentence(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert report_main([str(tmp_path / "empty")]) == 2
    assert f"{tmp_path / 'empty'} is neither a benchmark folder" in capsys.readouterr().err
    run = write_evaluated_run(tmp_path / "run")
    assert report_main([str(run), str(run)]) == 2
    assert "say where it goes with --out FILE" in capsys.readouterr().err
    assert report_main([str(run)]) == 0 and (run / "report.html").is_file()


@pytest.mark.slow
def test_a_headless_browser_renders_the_page_with_every_image_and_no_console_error(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test drives Chromium through selenium")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.skip("no chromedriver on PATH (Debian: apt install chromium-driver)")
    out = tmp_path / "page.html"
    assert report_main([str(write_benchmark(tmp_path / "bench")), str(write_evaluated_run(tmp_path / "run")), "--out", str(out)]) == 0
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    try:
        browser.get(out.as_uri())
        loaded = browser.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert loaded and all(loaded), f"images not loaded: {loaded}"
        assert browser.execute_script("return document.querySelectorAll('table').length") == 2
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        assert browser.save_screenshot(str(tmp_path / "page.png"))
    finally:
        browser.quit()
