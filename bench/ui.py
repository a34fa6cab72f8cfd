"""The web workbench under load, in a real headless Chromium; prints a table.

    .venv/bin/python bench/ui.py [--minutes 30] [--hearings 1000] [--cases 50] [--segments 100] [--idle-only]

0. Makes a real admin account in the bench store and signs in on the `/signin` form (the server runs
   `workbench serve --http` on 127.0.0.1); times sign-in to the first page drawn (the hearings list),
   median of 5, signing out between.
1. Fills a database with N hearings in C cases (bench/search.py's generator) and times the hearings list
   and a search in the browser (median of 5).
2. Uploads a one-minute recording and waits for its transcript: the hearing opened in step 3.
3. Uploads the long recording (data/bench/long_all_<M>min_seed0.wav, built by `bench/inputs.py M`)
   and, while it is processed, times every page (sidebar navigation: click → the page's script done),
   the one-minute hearing's review page (chosen in the picker) and its speaker and timeline views, and
   a search, and a sign-in in a browser of its own, while a second tab watches the progress bar move
   and an API client (a token of the bench account) polls the job every second (`GET /api/v1/jobs/ID`).
   First, once the job has made progress, the review desk (issue 15) is measured on a 3-hour hearing of
   2,957 segments as its clerk (`bench/desk.py`'s `measure`: open, follow 30 s, 20 timed and 200 quick edits);
   its edits rows are counted in the store after the server stops (the table's "desk:" rows).
4. Stops the server (SIGTERM) part way through the job, starts it again, and checks the job resumes
   and finishes (attempts = 2).
5. Reads the RSS of the server and its job processes together before and after "Unload models", and
   the floor the server noted just before its first job (the pages' libraries imported; the job's
   model libraries live in its child process, which the unload ends).

Diarization runs when `workbench.speech.align` is installed, otherwise it is off (and the table says so).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser import ARGS, CHROMIUM, idle, new_context, sign_in  # noqa: E402
from servers import PASSWORD, free_port, make_account, start_server, stop_server  # noqa: E402

from bench import desk  # noqa: E402  (issue 15: the review desk, measured in step 3)
from bench.inputs import build  # noqa: E402
from bench.search import fill  # noqa: E402
from workbench.store import Store, jobs  # noqa: E402

PAGES = ["庭审列表", "上传录音", "审阅笔录", "检索", "系统设置"]  # sidebar link = the page's heading
RESULTS = re.compile(r"\d+\+? 条结果")  # the search page's caption: "20+ 条结果 · 35 ms"
REVIEWED_CASE = "（2025）京0105民初2号"  # the one-minute hearing opened in the review page
BENCH_USER = "bench-admin"  # the account the bench signs in as: an admin (the system page, unloading models)
FIRST_PAGE = "庭审列表"  # the page a sign-in lands on
SIGN_IN = "登录 → 首页（sign-in → first page drawn）"


class JobPoller(threading.Thread):
    """An API client beside the browsers: finds the running job, then asks for it every second."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.times: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        http = requests.Session()
        job_id = None
        while not self.stop.wait(1.0):
            t = time.perf_counter()
            try:
                if job_id is None:
                    r = http.get(
                        f"{self.url}/api/v1/jobs", params={"state": "running"}, headers=self.headers, timeout=10
                    )
                    items = r.json().get("items") or [] if r.ok else []
                    job_id = items[0]["id"] if items else None
                else:
                    r = http.get(f"{self.url}/api/v1/jobs/{job_id}", headers=self.headers, timeout=10)
                if not r.ok:
                    self.errors.append(f"{r.status_code} {r.text[:80]}")
            except requests.RequestException as e:
                self.errors.append(str(e)[:80])
                continue
            if job_id is not None:
                self.times.append(time.perf_counter() - t)


def server_pid(proc) -> int:  # type: ignore[no-untyped-def]
    return proc.pid  # `workbench serve` execs streamlit: the same process


class Rows(list[tuple[str, str]]):
    """The table's rows, each also printed as it is measured (a run takes a quarter of an hour)."""

    def append(self, row: tuple[str, str]) -> None:
        super().append(row)
        print(f"  {row[0]}: {row[1]}", flush=True)


def tree_rss(pid: int) -> int:
    """RSS of the server and its child processes (the job runs in one), together."""
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def script_done(page) -> None:  # type: ignore[no-untyped-def]
    """Waits until the app's script run has finished (`idle()` in tests/test_e2e.py also waits 0.3 s more)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=30_000)


def click_centre(page, locator) -> float:  # type: ignore[no-untyped-def]
    """Clicks the middle of the element; returns the `perf_counter()` just before the click."""
    box = locator.bounding_box()
    t0 = time.perf_counter()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return t0


def navigate(page, link: str, heading: str | None) -> float:  # type: ignore[no-untyped-def]
    """Seconds from a sidebar click until the page's script finished and its heading is drawn.

    The clock starts at the mouse click on the link's centre, as for a clerk. Playwright's
    `locator.click()` first waits for the link to be scrolled into view and to hold still over two
    animation frames, which took 0.07 s at the median and up to 0.45 s while a job ran: time the
    clerk never waits, so it is done before the clock starts.
    """
    t0 = click_centre(page, page.get_by_role("link", name=link, exact=True).first)
    if heading:
        page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
    script_done(page)
    return time.perf_counter() - t0


def upload(page, recording: Path, case_number: str, diarize: bool) -> float:  # type: ignore[no-untyped-def]
    """Queues one recording from the upload page; returns the seconds from choosing the file to "queued"."""
    navigate(page, "庭审列表", "庭审列表")  # a fresh upload page, without the last "queued" message
    navigate(page, "上传录音", "上传录音")
    page.get_by_role("textbox", name="案号 Case number", exact=True).fill(case_number)
    if not diarize:
        page.get_by_role("combobox", name="说话人数 Speakers", exact=True).click()
        page.get_by_role("option", name="不区分说话人 (diarization off)").click()
        idle(page)
    t0 = time.perf_counter()  # the file's transfer (streamed in pieces) counts, as the clerk waits for it
    page.locator("[data-testid='wbUploadInput']").set_input_files(str(recording))
    # The picker streams the file to the server in pieces; submit once it says the file is there.
    page.locator("[data-testid='wbUploadItem'][data-state='done']").first.wait_for(timeout=600_000)
    page.get_by_role("button", name="提交转写（1 个文件）").click(timeout=120_000)
    page.get_by_text("已加入处理队列").wait_for(timeout=120_000)
    return time.perf_counter() - t0


def sign_in_timed(page, url: str, checked: list[float] | None = None) -> float:  # type: ignore[no-untyped-def]
    """Seconds from submitting the sign-in form until the first page (the hearings list) is drawn and its script
    has run: the password check (argon2), the session, the redirect, the app's start and the page's first run.

    Signs out first, so every measurement is a real sign-in with a new session. `checked` gets the seconds
    until the form's answer (the 303 with the session cookie): the server's part before the app starts.
    """
    page.goto(f"{url}/signout")
    page.wait_for_url(re.compile(r"/signin"), timeout=30_000)
    page.locator("input[name='name']").fill(BENCH_USER)
    password = page.locator("input[name='password']")
    password.fill(PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST" and "/signin" in r.url) as answer:
        t0 = time.perf_counter()
        password.press("Enter")
    if checked is not None:
        answer.value.finished()
        checked.append(time.perf_counter() - t0)
    page.get_by_role("heading", name=FIRST_PAGE).first.wait_for(timeout=30_000)
    script_done(page)
    return time.perf_counter() - t0


def review_link(page, file_name: str, timeout_ms: float) -> int:  # type: ignore[no-untyped-def]
    """Waits until the upload page's queue shows the file's job done; returns its hearing's id."""
    hearing = page.wait_for_function(
        """name => {
            for (const a of document.querySelectorAll("a[href*='hearing=']")) {
                const row = a.closest("[data-testid='stHorizontalBlock']");
                if (row && row.innerText.includes(name)) return new URL(a.href).searchParams.get("hearing");
            }
            return null;
        }""",
        arg=file_name,
        timeout=timeout_ms,
    ).json_value()
    return int(hearing)


def open_hearing(page, hearing_id: int, case_number: str) -> float:  # type: ignore[no-untyped-def]
    """From the review page's hearing picker: seconds from choosing the hearing until its page (the
    transcript view: 15 segments, the player) has run."""
    page.get_by_role("combobox", name="选择庭审 Hearing").click()
    t0 = click_centre(page, page.get_by_role("option", name=re.compile(rf"^#{hearing_id} · ")).first)
    page.get_by_role("heading", name=case_number).first.wait_for(timeout=30_000)
    script_done(page)
    return time.perf_counter() - t0


# The review page's views: the switch's label, and what the view draws
VIEWS = {"说话人 Speakers": "保存说话人", "时间轴 Timeline": "发言时间轴 · 点击色块从该处播放"}


def switch_view(page, view: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from a click on one of the review page's views until it is drawn and its script has run."""
    t0 = click_centre(page, page.get_by_text(view, exact=True))
    page.get_by_text(VIEWS[view], exact=True).first.wait_for(timeout=30_000)
    script_done(page)
    return time.perf_counter() - t0


def search_once(page, query: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from the click on 检索 until this query's results are drawn and the script has run."""
    if page.get_by_text(RESULTS).count():  # the last query's results: start from an empty search page
        navigate(page, "上传录音", "上传录音")
        navigate(page, "检索", "检索")
    page.get_by_role("textbox", name="关键词 Query", exact=True).fill(query)
    t0 = click_centre(page, page.get_by_role("button", name="检索"))
    page.get_by_text(RESULTS).first.wait_for(timeout=30_000)
    script_done(page)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--hearings", type=int, default=1000)
    ap.add_argument("--cases", type=int, default=50, help="cases the hearings are spread over")
    ap.add_argument("--segments", type=int, default=100, help="segments per filler hearing")
    ap.add_argument("--idle-only", action="store_true", help="only the sign-in, list and search timings (2 min)")
    ap.add_argument("--restart-at", type=float, default=0.3, help="job progress at which the server is restarted")
    args = ap.parse_args()
    recording = ROOT / "data" / "bench" / f"long_all_{args.minutes}min_seed0.wav"
    if not recording.exists():
        sys.exit(f"{recording} is missing: run `.venv/bin/python bench/inputs.py {args.minutes}` first")
    diarize = importlib.util.find_spec("workbench.speech.align") is not None
    data = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    rows = Rows()
    load = f"load avg {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} CPUs at start"

    t0 = time.perf_counter()
    with Store(data / "workbench.duckdb") as store:
        fill(store, args.hearings, args.segments, seed=0, n_cases=args.cases)
        from workbench.accounts.tokens import ApiTokens

        account = make_account(store, BENCH_USER, "admin")
        _, api_token = ApiTokens(store).create(account, "bench-poller", actor=account.actor("bench"))
        # -- issue 15: the 3-hour desk hearing (2,957 segments) and its clerk, for bench/desk.py in step 3 --
        desk_hearing = None if args.idle_only else desk.prepare(store, *desk.build_hearing(), admin=BENCH_USER)
    rows.append((f"fill {args.hearings} hearings x {args.segments} segments in {args.cases} cases",
                 f"{time.perf_counter() - t0:.0f} s"))  # fmt: skip

    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(data, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=desk.BROWSER_ARGS)  # + autoplay, for the desk
            context = new_context(browser)
            page = context.new_page()
            # 0. Sign-in to the first page drawn, idle server (the first one also starts the app: not counted).
            sign_in(page, url, BENCH_USER)
            checked: list[float] = []
            signs = [sign_in_timed(page, url, checked) for _ in range(5)]
            rows.append((f"sign-in to the first page drawn, {args.hearings} hearings (median / max of 5)",
                         f"{statistics.median(signs):.2f} / {max(signs):.2f} s (target ≤ 1 s)"))  # fmt: skip
            rows.append(("  each sign-in, in order", " ".join(f"{t:.2f}" for t in signs)))
            rows.append(("  of which the form's answer (password check, session), in order",
                         " ".join(f"{t:.2f}" for t in checked)))  # fmt: skip
            page.goto(f"{url}/upload")
            idle(page)
            # 1. Big database, idle server.
            lst = []
            for _ in range(5):
                navigate(page, "上传录音", "上传录音")
                lst.append(navigate(page, "庭审列表", "庭审列表"))
            navigate(page, "检索", "检索")
            srch = [search_once(page, q) for q in ("借款", "合同 证据", '"本院认为"', "张", "判决")]
            rows.append((f"hearings list, {args.hearings} hearings (median / max of 5)",
                         f"{statistics.median(lst):.2f} / {max(lst):.2f} s"))  # fmt: skip
            rows.append((f"search page query, {args.hearings * args.segments} segments (median / max of 5)",
                         f"{statistics.median(srch):.2f} / {max(srch):.2f} s"))  # fmt: skip
            rows.append(("  each list visit, in order", " ".join(f"{t:.2f}" for t in lst)))
            rows.append(("  each search, in order", " ".join(f"{t:.2f}" for t in srch)))
            if args.idle_only:
                browser.close()
                stop_server(proc)
                report(rows, load, diarize, data)
                return

            # 2. A one-minute recording transcribed first: the hearing whose review page is timed below.
            t_short = time.perf_counter()
            short = build(1, seed=1)
            upload(page, short, REVIEWED_CASE, diarize)
            reviewed = review_link(page, short.name, 600_000)
            rows.append(("1-minute recording transcribed (models loaded first)",
                         f"{time.perf_counter() - t_short:.0f} s, hearing #{reviewed}"))  # fmt: skip

            # 3. Upload the long recording; time pages while it runs; a second browser watches.
            t_up = upload(page, recording, "（2025）京0105民初1号", diarize)
            rows.append((f"upload {recording.stat().st_size >> 20} MB + queue", f"{t_up:.1f} s"))
            watcher = context.new_page()  # a second tab of the signed-in browser
            watcher.goto(f"{url}/upload")
            idle(watcher)
            signer_context = new_context(browser)  # signs in and out on its own, beside the timed tab
            signer = signer_context.new_page()
            sign_in(signer, url, BENCH_USER)
            poller = JobPoller(url, api_token)
            poller.start()
            # -- issue 15: the review desk while the job runs (open, follow 30 s, 20 + 200 edits; bench/desk.py) --
            desk_job = desk.Job.running(url, api_token)
            desk_column = desk.measure(
                browser,
                url,
                desk_hearing,
                label="under the job",
                job_state=desk_job.state,
                server_log=data / "server.log",
            )
            seen: list[float] = []
            review_hearing = f"审阅笔录 #{reviewed}（选中庭审）"
            search_query = "检索 “借款”（提交查询）"
            views = {view: f"审阅笔录 #{reviewed} → {view}" for view in VIEWS}
            columns = [*PAGES, review_hearing, *views.values(), search_query, SIGN_IN]
            times: dict[str, list[float]] = {name: [] for name in columns}
            job_t0 = time.perf_counter()
            while True:
                for name in PAGES:
                    times[name].append(navigate(page, name, name))
                    if name == "审阅笔录":
                        times[review_hearing].append(open_hearing(page, reviewed, REVIEWED_CASE))
                        for view, label in views.items():
                            times[label].append(switch_view(page, view))
                    if name == "检索":
                        times[search_query].append(search_once(page, "借款"))
                times[SIGN_IN].append(sign_in_timed(signer, url))
                # The bar's caption ("识别 42% · 剩余…") is drawn beside the bar, not inside it.
                text = watcher.locator("[data-testid='stMain']").inner_text(timeout=5000)
                m = re.search(r"(\d+)% · ", text)
                if m:
                    seen.append(int(m.group(1)) / 100)
                if seen and seen[-1] >= args.restart_at:
                    break
                if time.perf_counter() - job_t0 > 1800:
                    raise RuntimeError("the job did not reach the restart point in 30 min")
            for name, v in times.items():
                if not v:
                    continue
                rows.append((f"page '{name}' while the job runs (median / max of {len(v)})",
                             f"{statistics.median(v):.2f} / {max(v):.2f} s"))  # fmt: skip
            poller.stop.set()
            poller.join(15)
            polls = poller.times or [float("nan")]
            rows.append((f"API client polling the job every second (median / max of {len(poller.times)})",
                         f"{statistics.median(polls) * 1000:.0f} / {max(polls) * 1000:.0f} ms, "
                         f"{len(poller.errors)} errors"))  # fmt: skip
            rows.append(
                ("second browser saw progress", " → ".join(f"{x:.0%}" for x in seen[:: max(len(seen) // 6, 1)]))
            )
            watcher.close()
            signer_context.close()
            browser.close()

        # 4. Restart in the middle of the job.
        stop_server(proc)
        rows.append(("server stopped (SIGTERM) at job progress", f"{seen[-1]:.0%}"))
        proc = start_server(data, port)
        t_restart = time.perf_counter()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = new_context(browser).new_page()
            sign_in(page, url, BENCH_USER, next_path="/upload")
            review_link(page, recording.name, 3600_000)
            rows.append(("job finished after the restart", f"{time.perf_counter() - t_restart:.0f} s later"))
            page.wait_for_timeout(6000)  # the gauge refreshes every 5 s
            pid = server_pid(proc)
            before = tree_rss(pid)
            floor_text = page.get_by_text(re.compile("模型加载前 RSS")).first.inner_text()
            t_unload = time.perf_counter()
            page.get_by_role("button", name="卸载模型 Unload models").click()
            # The answer is a toast: "已卸载：..." once the job process has exited (about 2 s), or "任务进行中：..."
            # if a job still runs; the RSS is read after it, not after a fixed wait.
            answer = page.get_by_text(re.compile("已卸载：|任务进行中：")).first
            answer.wait_for(timeout=60_000)
            said = f"{time.perf_counter() - t_unload:.1f} s: {answer.inner_text()[:60]}"
            rows.append(("'Unload models' answered", said))
            page.wait_for_timeout(1000)
            after = tree_rss(pid)
            rows.append(("server + job process RSS after the job, models loaded", f"{before / 2**20:.0f} MB"))
            rows.append(("server + job process RSS after 'Unload models'", f"{after / 2**20:.0f} MB"))
            m = re.search(r"模型加载前 RSS ([\d,]+) MB", floor_text)
            floor = int(m.group(1).replace(",", "")) if m else None
            rows.append(("floor noted before the first job", f"{floor} MB" if floor else floor_text))
            if floor:
                rows.append(("RSS after 'Unload models' above the floor", f"{after / 2**20 - floor:+.0f} MB"))
            browser.close()
    finally:
        stop_server(proc)
    with Store(data / "workbench.duckdb") as store:
        done = next(j for j in jobs.jobs(store) if j.file_name == recording.name)
        rows.append(("resumed job: state, attempts", f"{done.state}, {done.attempts}"))
        hearing = store.hearing(done.hearing_id)
        rows.append(("resumed job: segments stored, hearing status", f"{hearing.segments}, {hearing.status}"))
        # -- issue 15: the desk's figures, its edits counted in the store now that the server is stopped --
        for row in desk.ui_rows([desk_column], desk.check_kept(store, [desk_column])):
            rows.append(row)
        rows.append(("desk: job while measured", desk_column.job))
    desk_hearing.wav.unlink(missing_ok=True)  # the 3-hour WAV (345 MB) is rebuilt in a second when needed
    report(rows, load, diarize, data)


def report(rows: list[tuple[str, str]], load: str, diarize: bool, data: Path) -> None:
    rows.append(("conditions", f"{load}; diarization {'on' if diarize else 'off (workbench.speech.align missing)'}"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"(data kept in {data})")


if __name__ == "__main__":
    main()
