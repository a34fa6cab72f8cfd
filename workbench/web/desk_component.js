// The review desk: the whole hearing as one keyboard-driven editor beside a docked player.
//
// The transcript never goes through Streamlit: this script GETs /api/v1/hearings/{id}/desk with the browser's
// session cookie and saves through POST /edits, /segments/{id}/split|merge, /replace and PUT /checked (header
// X-Workbench-Client: browser on writes), so typing never reruns the page. Audio is /audio/{rec}?start&dur in
// aligned 300 s windows, the next one preloaded.
//
// Rows are built lazily, 50 to a block (a placeholder of estimated height until the block nears the view), so a
// 3,000-segment hearing opens at once; while playing, each frame is a binary search and a few class toggles.
// Edits are debounced (100 ms), sent in batches, one request in flight at a time, retried with backoff and kept
// in localStorage until stored. All user text is put in with textContent, never as HTML.
//
// Streamlit calls the default export again on each rerun of the page; one Desk per component key lives in
// this module, so the editor, its queue and its player survive those calls.
//
// Stage marks and log notes: GET /hearings/{id}/notes (again on each rerun: the page's list may have added one),
// drawn in place between the rows; `s` / `l` (Alt+S / Alt+L while typing) open a box at the audio's time, Enter
// saves it with POST /hearings/{id}/notes.

const HEADERS = { "X-Workbench-Client": "browser" };
const BLOCK = 50;
const WINDOW_S = 300;
const SEEK_S = 3;
// A pause in typing this long saves: with a save's round trip it keeps "stored within 300 ms of the pause"
// (bench/desk.py); shorter would send a request for nearly every keystroke.
const DEBOUNCE_MS = 100;
const RETRY_MAX_S = 30;
const BATCH_MAX = 200;
const POSITION_EVERY_MS = 2000;
const STATS_KEEP = 500;
const RATE_MIN = 0.5;
const RATE_MAX = 2.0;
const TEXT_MAX = 2000; // the server's cap on a segment's text (a longer stored text may stay, not grow)
const STAGE_MAX = 40; // the server's caps on a stage's name and a note's text (desk_data sends them)
const NOTE_MAX = 500;
const NOTES_LIMIT = 1000; // a hearing's notes in one GET (a long hearing has a few dozen)
const NOTE_ORDER = { stage: 0, note: 1, recess: 1 };

const desks = new Map();

// What the open desks hold on the page: a closed desk must give all of it back (window.wbDeskStats.live).
const live = { desks: 0, window_listeners: 0, timers: 0 };

// A string's length as the server counts it (code points, not UTF-16 units).
function charCount(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

// The first `n` code points of `text`.
function firstChars(text, n) {
  return Array.from(text).slice(0, Math.max(0, n)).join("");
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function testid(node, id) {
  node.setAttribute("data-testid", id);
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const hh = String(Math.floor(s / 3600)).padStart(2, "0");
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return `${hh}:${mm}:${ss}`;
}

function readStore(key) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null; // private mode or a broken value: nothing remembered
  }
}

function writeStore(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // private mode or full: the desk still works, a reload just forgets
  }
}

// The last index i with keyOf(items[i]) <= t, or -1.
function lastAtOrBefore(items, t, keyOf) {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (keyOf(items[mid]) <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

class HttpError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.body = body;
  }
}

// The characters before (node, offset) inside `container`: a caret position as a string index.
function offsetIn(container, node, offset) {
  const range = document.createRange();
  range.setStart(container, 0);
  try {
    range.setEnd(node, offset);
  } catch {
    return 0;
  }
  return range.toString().length;
}

// The DOM point at string index `offset` inside `container`.
function pointIn(container, offset) {
  const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
  let left = offset;
  let last = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    last = node;
    if (left <= node.length) return [node, left];
    left -= node.length;
  }
  return last ? [last, last.length] : [container, 0];
}

class Desk {
  constructor(key) {
    this.key = key;
    this.segs = []; // in order; each {id, start, end, speaker, text, version, edited, words, block}
    this.byId = new Map();
    this.rows = new Map(); // segment id -> {el, textEl, speakerEl, stateEl, spans}
    this.blocks = [];
    this.speakers = [];
    this.threshold = 0.5;
    this.checked = null;
    this.pending = new Map(); // segment id -> {text?, speaker?, base, typedAt, stale?}
    this.inflight = false;
    this.sending = new Set(); // segment ids of the request in flight
    this.chain = Promise.resolve();
    this.flushTimer = null;
    this.retryTimer = null;
    this.failures = 0;
    this.undoStack = [];
    this.redoStack = [];
    this.sel = -1; // index of the selected row
    this.current = -1; // index of the playing row
    this.currentWord = null;
    this.follow = true;
    this.rate = 1.0;
    this.win = -1;
    this.playing = false;
    this.raf = 0;
    this.rowEstimate = 44;
    this.lastReplace = null;
    this.loaded = false;
    this.created = performance.now();
    this.stats = { saves: [], failures: 0, stale: 0, requests: 0, ready_ms: null, load_ms: null, segments: 0, live };
    window.wbDeskStats = this.stats;
    this.windowListeners = [];
    this.stopped = false;
    this.lowCount = 0;
    this.orphans = [];
    this.notes = []; // the hearing's log notes by time, as the API gives them
    this.noteEls = [];
    this.mark = null; // the stage or note being written in the mark box: {kind, at}
    live.desks += 1;
    this.build();
  }

  configure(data) {
    const first = this.data === undefined;
    const couldEdit = this.mayEdit;
    this.data = data || {};
    this.hid = this.data.hearing_id;
    this.api = this.data.api || "/api/v1";
    this.mayEdit = Boolean(this.data.may_edit);
    this.recordingId = this.data.recording_id ?? null;
    this.keys = this.data.keys || [];
    this.account = String(this.data.account ?? "");
    this.textMax = Number(this.data.text_max) || TEXT_MAX;
    this.stages = Array.isArray(this.data.stages) ? this.data.stages.map(String) : [];
    this.stageMax = Number(this.data.stage_max) || STAGE_MAX;
    this.noteMax = Number(this.data.note_max) || NOTE_MAX;
    this.root.dataset.readonly = this.mayEdit ? "0" : "1";
    if (first) {
      this.drawSheet();
      this.drawStages();
      this.load();
    } else if (this.loaded && couldEdit !== this.mayEdit) {
      this.reload(); // locked or reopened on the page: the rows become read-only (or editable) again
    } else if (this.loaded) {
      this.refreshNotes(); // the page ran again: its notes list may have added, changed or removed one
    }
  }

  // --- the DOM ----------------------------------------------------------------------------------------------

  build() {
    this.root = testid(el("div", "wb-desk"), "wbDesk");
    this.root.tabIndex = 0;
    this.root.dataset.ready = "0";
    this.root.dataset.mode = "nav";
    this.root.dataset.follow = "1";
    this.root.dataset.saving = "0";
    this.root.dataset.segments = "0";

    const bar = el("div", "wb-bar");
    this.audio = testid(el("audio"), "wbDeskAudio");
    this.audio.preload = "auto";
    this.spare = el("audio");
    this.spare.preload = "auto";
    this.playButton = this.button("▶", "播放/暂停 (play/pause) F9", () => this.toggle(), "wbDeskPlay");
    const back = this.button("⟲3", "后退 3 秒 (back 3 s) F7", () => this.skip(-SEEK_S));
    const fwd = this.button("3⟳", "前进 3 秒 (forward 3 s) F8", () => this.skip(SEEK_S));
    this.speedEl = testid(el("span", "wb-speed", "1.0×"), "wbDeskSpeed");
    this.speedEl.title = "速度 (speed): Shift+F7 / Shift+F8, [ / ]";
    this.timeEl = testid(el("span", "wb-clock", "00:00:00"), "wbDeskTime");
    this.followButton = this.button("跟随 (follow)", "跟随播放 (follow) f", () => this.setFollow(!this.follow), "wbDeskFollow");
    this.followButton.setAttribute("aria-pressed", "true");
    this.lowEl = testid(el("span", "wb-lowcount", ""), "wbDeskLowCount");
    this.lowEl.title = "低置信词 (low-confidence words): Alt+N / n";
    this.saveEl = testid(el("span", "wb-save", "已保存 (saved)"), "wbDeskSaveState");
    this.msgEl = testid(el("span", "wb-msg", ""), "wbDeskMessage");
    const find = this.button("查找替换 (find)", "查找替换 (find and replace) /", () => this.openFind());
    const help = this.button("?", "快捷键 (shortcuts) ?", () => this.toggleSheet());
    bar.append(this.audio, this.spare, back, this.playButton, fwd, this.speedEl, this.timeEl, this.followButton,
      this.lowEl, find, help, this.saveEl, this.msgEl);

    this.findPanel = this.drawFind();
    this.markPanel = this.drawMark();
    this.scroller = el("div", "wb-scroll");
    this.list = el("div", "wb-list");
    this.scroller.append(this.list);
    this.sheet = testid(el("div", "wb-sheet"), "wbDeskSheet");
    this.sheet.hidden = true;
    this.checkedEl = testid(el("div", "wb-checked"), "wbDeskChecked");
    this.root.append(bar, this.findPanel, this.markPanel, this.scroller, this.sheet);

    this.observer = new IntersectionObserver((entries) => this.onVisible(entries), {
      root: this.scroller,
      rootMargin: "1200px 0px",
    });
    this.root.addEventListener("keydown", (e) => this.onKey(e));
    this.root.addEventListener("input", (e) => this.onInput(e));
    this.root.addEventListener("beforeinput", (e) => this.onBeforeInput(e));
    this.root.addEventListener("paste", (e) => this.onPaste(e));
    this.root.addEventListener("focusin", (e) => this.onFocus(e));
    this.root.addEventListener("focusout", (e) => this.onBlur(e));
    this.root.addEventListener("compositionstart", () => (this.composing = true));
    this.root.addEventListener("compositionend", (e) => {
      this.composing = false;
      const seg = this.segs[this.rowIndexOf(e.composedPath()[0])];
      if (seg && this.rows.get(seg.id)?.needsRefresh && !this.pending.has(seg.id)) this.refreshRow(seg);
    });
    this.list.addEventListener("click", (e) => this.onClick(e));
    for (const audio of [this.audio, this.spare]) {
      audio.addEventListener("play", () => this.onPlayState(audio));
      audio.addEventListener("pause", () => this.onPlayState(audio));
      audio.addEventListener("ended", () => this.onEnded(audio));
      audio.addEventListener("loadedmetadata", () => this.onMetadata(audio));
      audio.addEventListener("timeupdate", () => audio === this.audio && this.tick(false));
      audio.addEventListener("error", () => audio === this.audio && this.audio.src && this.say("音频无法播放 (the audio failed to play)"));
    }
    this.positionTimer = setInterval(() => this.savePosition(), POSITION_EVERY_MS);
    live.timers += 1;
    this.listenWindow("online", () => this.retryNow());
    // A foot pedal's keys work anywhere on the page, not only with the focus in the desk (the desk's own
    // keydowns stop at its root, so they never arrive here twice).
    this.onPageKey = (e) => {
      if (!this.loaded || !this.root.isConnected || e.ctrlKey || e.altKey || e.metaKey) return;
      if (!["F4", "F7", "F8", "F9"].includes(e.key)) return;
      this.onKey(e);
    };
    this.listenWindow("keydown", this.onPageKey);
    this.listenWindow("pagehide", () => this.savePosition());
  }

  button(text, title, onClick, id) {
    const b = el("button", "wb-btn", text);
    b.type = "button";
    b.title = title;
    b.tabIndex = -1; // the keys do it all; a click must not take the caret out of the row
    b.addEventListener("mousedown", (e) => e.preventDefault());
    b.addEventListener("click", onClick);
    if (id) testid(b, id);
    return b;
  }

  drawFind() {
    const panel = testid(el("div", "wb-find"), "wbDeskFind");
    panel.hidden = true;
    this.findText = testid(el("input", "wb-input"), "wbDeskFindText");
    this.findText.placeholder = "查找 (find)";
    this.replaceText = testid(el("input", "wb-input"), "wbDeskReplaceText");
    this.replaceText.placeholder = "替换为 (replace with)";
    this.replaceText.disabled = !this.mayEdit; // finding is reading; replacing is an edit
    const caseLabel = el("label", "wb-case");
    this.matchCase = testid(el("input"), "wbDeskMatchCase");
    this.matchCase.type = "checkbox";
    this.matchCase.checked = true;
    caseLabel.append(this.matchCase, document.createTextNode(" 区分大小写 (match case)"));
    const preview = testid(el("button", "wb-btn", "预览 (preview)"), "wbDeskFindPreview");
    preview.type = "button";
    preview.onclick = () => this.previewReplace();
    this.applyButton = testid(el("button", "wb-btn", "全部替换 (apply)"), "wbDeskFindApply");
    this.applyButton.type = "button";
    this.applyButton.disabled = true;
    this.applyButton.onclick = () => this.applyReplace();
    this.undoReplaceButton = testid(el("button", "wb-btn", "撤销替换 (undo)"), "wbDeskFindUndo");
    this.undoReplaceButton.type = "button";
    this.undoReplaceButton.disabled = true;
    this.undoReplaceButton.onclick = () => this.undoReplace();
    const close = el("button", "wb-btn", "×");
    close.type = "button";
    close.title = "关闭 (close) Esc";
    close.onclick = () => this.closeFind();
    this.findNote = testid(el("div", "wb-find-note"), "wbDeskFindNote");
    this.findList = testid(el("ol", "wb-find-list"), "wbDeskFindList");
    const line = el("div", "wb-find-line");
    line.append(this.findText, this.replaceText, caseLabel, preview, this.applyButton, this.undoReplaceButton, close);
    panel.append(line, this.findNote, this.findList);
    for (const input of [this.findText, this.replaceText, this.matchCase]) {
      input.addEventListener("input", () => {
        this.preview = null;
        this.applyButton.disabled = true;
      });
    }
    return panel;
  }

  // The box in which a stage mark or a note is written: its time (the audio's when the key was pressed), its
  // text (a stage: the next of the stages offered, selected, so Enter takes it and typing replaces it).
  drawMark() {
    const panel = testid(el("div", "wb-mark"), "wbDeskMark");
    panel.hidden = true;
    this.markKindEl = testid(el("span", "wb-mark-kind"), "wbDeskMarkKind");
    this.markTimeEl = testid(el("span", "wb-time"), "wbDeskMarkTime");
    this.markText = testid(el("input", "wb-input"), "wbDeskMarkText");
    this.markText.disabled = !this.mayEdit; // a stage mark or a note is an edit: a viewer has no box to type in
    this.stageList = el("datalist");
    this.stageList.id = `wb-stages-${String(this.key).replace(/[^\w-]/g, "_")}`;
    this.markSave = testid(el("button", "wb-btn", "保存 (save) Enter"), "wbDeskMarkSave");
    this.markSave.type = "button";
    this.markSave.onclick = () => this.saveMark();
    const close = el("button", "wb-btn", "×");
    close.type = "button";
    close.title = "取消 (cancel) Esc";
    close.onclick = () => this.closeMark();
    this.markNote = testid(el("div", "wb-mark-note"), "wbDeskMarkNote");
    panel.append(this.markKindEl, this.markTimeEl, this.markText, this.stageList, this.markSave, close, this.markNote);
    return panel;
  }

  drawStages() {
    this.stageList.replaceChildren(...this.stages.map((name) => Object.assign(el("option"), { value: name })));
  }

  drawSheet() {
    this.sheet.replaceChildren();
    this.sheet.append(el("div", "wb-sheet-title", "快捷键 (keyboard shortcuts) — 脚踏板 (foot pedal): F7 / F9 / F8"));
    for (const [group, rows] of this.keys) {
      this.sheet.append(el("div", "wb-sheet-group", group));
      const table = el("table", "wb-sheet-table");
      for (const [keys, what] of rows) {
        const tr = el("tr");
        tr.append(el("td", "wb-sheet-keys", keys), el("td", "", what));
        table.append(tr);
      }
      this.sheet.append(table);
    }
    this.sheet.append(el("div", "wb-sheet-foot", "Esc 或 ? 关闭 (close)"));
  }

  attach(parent) {
    if (this.root.parentNode !== parent) parent.appendChild(this.root);
  }

  say(text) {
    this.msgEl.textContent = text || "";
    this.cancel("msgTimer");
    if (text) this.later("msgTimer", () => (this.msgEl.textContent = ""), 8000);
  }

  // A one-shot timer kept in this[name] (a later one of the same name replaces it), counted in `live` until it
  // fires or is cancelled; none is set once the desk has stopped.
  later(name, fn, ms) {
    this.cancel(name);
    if (this.stopped) return;
    live.timers += 1;
    this[name] = setTimeout(() => {
      this[name] = null;
      live.timers -= 1;
      fn();
    }, ms);
  }

  cancel(name) {
    if (!this[name]) return;
    clearTimeout(this[name]);
    this[name] = null;
    live.timers -= 1;
  }

  // A listener on the window, named so that stop() can take it away again.
  listenWindow(type, handler) {
    window.addEventListener(type, handler);
    this.windowListeners.push([type, handler]);
    live.window_listeners += 1;
  }

  // --- loading ----------------------------------------------------------------------------------------------

  async request(method, path, body) {
    this.stats.requests += 1;
    const init = { method, credentials: "same-origin", cache: "no-store", headers: {} };
    if (method !== "GET") Object.assign(init.headers, HEADERS);
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`${this.api}${path}`, init);
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const detail = (parsed && (parsed.detail || parsed.error)) || `HTTP ${response.status}`;
      throw new HttpError(response.status, detail, parsed);
    }
    return parsed;
  }

  async load({ again = false } = {}) {
    const at = again ? this.now() : null;
    let desk;
    const notesAsked = this.fetchNotes(); // beside the desk's own request, not after it
    try {
      const asked = performance.now();
      desk = await this.request("GET", `/hearings/${encodeURIComponent(this.hid)}/desk`);
      this.stats.load_ms = performance.now() - asked;
    } catch (e) {
      const text = e instanceof HttpError ? e.message : "无法连接服务器 (cannot reach the server)";
      this.list.replaceChildren(testid(el("div", "wb-error", `笔录加载失败 (could not load): ${text}`), "wbDeskError"));
      this.root.dataset.ready = "error";
      return;
    }
    const hearing = desk.hearing || {};
    if (hearing.may_edit === false) this.mayEdit = false;
    this.root.dataset.readonly = this.mayEdit ? "0" : "1";
    if (this.replaceText) this.replaceText.disabled = !this.mayEdit;
    if (this.markText) this.markText.disabled = !this.mayEdit;
    if (this.recordingId === null && hearing.recording_id != null) this.recordingId = hearing.recording_id;
    this.duration = Number(hearing.duration) || 0;
    this.threshold = typeof desk.threshold === "number" ? desk.threshold : 0.5;
    this.speakers = desk.speakers || [];
    this.checked = desk.checked || null;
    this.segs = (desk.segments || []).map((s) => this.model(s));
    this.lowCount = this.segs.reduce((n, seg) => n + seg.low, 0);
    this.reindex();
    for (let b = 0; b * BLOCK < this.segs.length; b++) {
      const block = { segs: this.segs.slice(b * BLOCK, (b + 1) * BLOCK), el: el("div", "wb-block"), built: false };
      for (const seg of block.segs) seg.block = block;
      block.el.style.height = `${block.segs.length * this.rowEstimate}px`;
      this.blocks.push(block);
      this.list.append(block.el);
      this.observer.observe(block.el);
    }
    if (!this.segs.length) this.list.append(el("div", "wb-empty", "这次庭审没有笔录 (no transcript)"));
    this.restorePending();
    this.updateLowCount();
    if (!this.recordingId) {
      this.playButton.disabled = true;
      this.say("没有录音 (no recording)");
    }
    this.root.dataset.segments = String(this.segs.length);
    this.loaded = true;
    this.setNotes((await notesAsked) || []);

    const t = again ? at : this.startTime();
    const index = Math.max(0, lastAtOrBefore(this.segs, t, (s) => s.start));
    if (this.segs.length) {
      this.ensureBuilt(index);
      this.select(index, { scroll: "start" });
      this.placeChecked();
    }
    if (this.recordingId && !again) this.seek(t, false); // a reload leaves the player as it is
    this.drawTime(t);
    this.root.dataset.ready = "1";
    if (!again) this.stats.ready_ms = performance.now() - this.created;
    this.stats.segments = this.segs.length;
  }

  model(s) {
    const seg = {
      id: s.id,
      start: Number(s.start),
      end: Number(s.end),
      speaker: s.speaker ?? null,
      text: s.text ?? "",
      version: s.version ?? 0,
      edited: Boolean(s.edited),
      words: Array.isArray(s.words) ? s.words : [],
      low: 0, // its low-confidence words: the hearing's count moves by each row's change, never a full walk
      block: null,
    };
    seg.low = this.countLow(seg.words);
    return seg;
  }

  update(seg, s) {
    seg.start = Number(s.start ?? seg.start);
    seg.end = Number(s.end ?? seg.end);
    if ("speaker" in s) seg.speaker = s.speaker;
    if ("text" in s) seg.text = s.text;
    if ("version" in s) seg.version = s.version;
    if ("edited" in s) seg.edited = Boolean(s.edited);
    if (Array.isArray(s.words)) {
      const low = this.countLow(s.words);
      this.lowCount += low - seg.low;
      seg.low = low;
      seg.words = s.words;
    }
  }

  reindex() {
    this.byId.clear();
    this.segs.forEach((seg, i) => {
      seg.index = i;
      this.byId.set(seg.id, seg);
    });
  }

  // This browser's memory of the hearing is per account (wb-desk-<what>-<account>-<hearing>): unsaved edits are
  // never resent, nor a position reused, under whoever signs in next on the same machine.
  storeKey(what) {
    return `wb-desk-${what}-${this.account}-${this.hid}`;
  }

  // Where to open: a link's time (start_at) when it is new, else where this browser stopped, else the mark.
  startTime() {
    const stored = readStore(this.storeKey("pos"));
    const urlT = this.data.start_at ?? null;
    if (urlT !== null && (!stored || stored.url_t !== urlT)) return Number(urlT);
    if (stored && typeof stored.t === "number") return stored.t;
    if (this.checked && typeof this.checked.t === "number") return this.checked.t;
    return this.segs.length ? this.segs[0].start : 0;
  }

  savePosition() {
    if (!this.loaded) return;
    writeStore(this.storeKey("pos"), { t: this.now(), url_t: this.data.start_at ?? null });
  }

  // --- rows ---------------------------------------------------------------------------------------------------

  onVisible(entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const block = this.blocks.find((b) => b.el === entry.target);
      if (block && !block.built) this.buildBlock(block);
    }
  }

  ensureBuilt(index) {
    const seg = this.segs[index];
    if (seg && !seg.block.built) this.buildBlock(seg.block);
  }

  buildBlock(block) {
    const fragment = document.createDocumentFragment();
    for (const seg of block.segs) fragment.append(this.buildRow(seg));
    block.el.replaceChildren(fragment);
    block.el.style.height = "";
    block.built = true;
    if (!this.measured && block.segs.length) {
      // the first real rows tell how tall the placeholders should be (a truer scrollbar, fewer jumps)
      this.measured = true;
      const height = block.el.getBoundingClientRect().height / block.segs.length;
      if (height > 8) {
        this.rowEstimate = height;
        for (const other of this.blocks) if (!other.built) other.el.style.height = `${other.segs.length * height}px`;
      }
    }
    if (this.checked && block.segs.some((s) => s.id === this.checked.segment_id)) this.placeChecked();
    if (this.notes.length) this.placeNotes(); // the block's rows are new elements: its marks go between them again
    if (this.current >= 0 && this.segs[this.current].block === block) this.markCurrent(this.current, true);
    if (this.sel >= 0 && this.segs[this.sel] && this.segs[this.sel].block === block) {
      this.rows.get(this.segs[this.sel].id)?.el.classList.add("wb-selected");
    }
  }

  // Rebuilds a built block's rows after a split or merge changed which segments it holds.
  rebuildBlock(block) {
    for (const child of block.el.querySelectorAll("[data-testid=wbDeskRow]")) {
      const id = Number(child.dataset.segmentId);
      if (!block.segs.some((s) => s.id === id)) this.rows.delete(id);
    }
    if (block.built) this.buildBlock(block);
    else block.el.style.height = `${block.segs.length * this.rowEstimate}px`;
  }

  buildRow(seg) {
    const row = testid(el("div", "wb-row"), "wbDeskRow");
    row.dataset.segmentId = String(seg.id);
    const time = el("span", "wb-time", clock(seg.start));
    time.title = `${seg.start.toFixed(1)}–${seg.end.toFixed(1)} s`;
    const speakerEl = el("span", "wb-speaker", this.speakerName(seg.speaker));
    const textEl = testid(el("div", "wb-text"), "wbDeskText");
    if (this.mayEdit) {
      textEl.setAttribute("contenteditable", "plaintext-only");
      textEl.spellcheck = false;
    }
    const stateEl = el("div", "wb-rowstate");
    row.append(time, speakerEl, textEl, stateEl);
    const entry = { el: row, textEl, speakerEl, stateEl, spans: [] };
    this.rows.set(seg.id, entry);
    const pending = this.pending.get(seg.id);
    this.renderText(seg, entry, pending && pending.text !== undefined ? pending.text : null);
    if (pending && pending.speaker !== undefined) speakerEl.textContent = this.speakerName(pending.speaker);
    this.drawRowState(seg.id);
    return row;
  }

  speakerName(label) {
    if (!label) return "—";
    const speaker = this.speakers.find((s) => s.label === label);
    return (speaker && speaker.display) || label;
  }

  // The text as word spans (low-confidence ones marked); `override` is unsaved text to show instead.
  renderText(seg, entry, override) {
    const text = override ?? seg.text;
    const textEl = entry.textEl;
    textEl.replaceChildren();
    entry.spans = [];
    entry.stale = override !== null && override !== seg.text; // its spans no longer match the words
    if (entry.stale) {
      textEl.textContent = text;
      return;
    }
    let pos = 0;
    seg.words.forEach((word, i) => {
      const [, , from, to, prob] = word;
      if (from < pos || to <= from || to > text.length) return; // overlapping or outside: leave it as text
      if (from > pos) textEl.append(document.createTextNode(text.slice(pos, from)));
      const span = el("span", "wb-w", text.slice(from, to));
      span.dataset.i = String(i);
      if (typeof prob === "number" && prob < this.threshold) {
        span.classList.add("wb-low");
        span.title = `置信度 (confidence) ${prob.toFixed(2)}`;
      }
      entry.spans[i] = span;
      textEl.append(span);
      pos = to;
    });
    if (pos < text.length) textEl.append(document.createTextNode(text.slice(pos)));
  }

  // Re-renders a row's text, keeping the caret where it was when the row has the focus.
  refreshRow(seg, caretAt) {
    const entry = this.rows.get(seg.id);
    if (!entry) return;
    const focused = this.focusedRowEl() === entry.textEl;
    if (focused && this.composing && caretAt === undefined) {
      entry.needsRefresh = true; // never under an IME's composition: after it ends
      return;
    }
    entry.needsRefresh = false;
    const caret = caretAt ?? (focused ? this.caret(entry.textEl) : null);
    const pending = this.pending.get(seg.id);
    this.renderText(seg, entry, pending && pending.text !== undefined ? pending.text : null);
    entry.speakerEl.textContent = this.speakerName(pending && pending.speaker !== undefined ? pending.speaker : seg.speaker);
    entry.el.querySelector(".wb-time").textContent = clock(seg.start);
    if (caret !== null && caret !== undefined) {
      const at = typeof caret === "number" ? { start: caret, end: caret } : caret;
      this.setCaret(entry.textEl, at.start, at.end, focused || caretAt !== undefined);
    }
    this.drawRowState(seg.id);
  }

  drawRowState(id) {
    const entry = this.rows.get(id);
    if (!entry) return;
    const pending = this.pending.get(id);
    let state = "saved";
    if (pending) state = pending.stale ? "stale" : pending.error ? "error" : "pending";
    entry.el.dataset.state = state;
    entry.stateEl.replaceChildren();
    if (state === "error") entry.stateEl.append(testid(el("span", "wb-row-error", pending.error), "wbDeskRowError"));
    if (state === "stale") {
      const theirs = pending.current || {};
      const box = testid(el("div", "wb-stale"), "wbDeskStale");
      box.append(el("div", "wb-stale-detail", pending.staleDetail || "已被他人修改 (changed by someone else)"));
      if (theirs.text !== undefined) box.append(el("div", "wb-stale-theirs", `他们的 (theirs): ${theirs.text}`));
      if (theirs.reshaped) {
        // Split or merged since: this row's text now lives partly in another segment, so resending mine here
        // would duplicate it. Only theirs, and the desk reloads to show the new rows (mine stays shown above).
        box.append(el("div", "wb-stale-detail", `本段已被拆分或合并；我的文字 (mine): ${pending.text ?? ""}`));
        const take = testid(el("button", "wb-btn", "用他们的并重新加载 (take theirs and reload)"), "wbDeskTakeTheirs");
        take.type = "button";
        take.onclick = () => this.takeTheirs(id);
        box.append(take);
      } else {
        const take = testid(el("button", "wb-btn", "用他们的 (take theirs)"), "wbDeskTakeTheirs");
        take.type = "button";
        take.onclick = () => this.takeTheirs(id);
        const keep = testid(el("button", "wb-btn", "保留我的 (keep mine: resend against the new version)"), "wbDeskKeepMine");
        keep.type = "button";
        keep.onclick = () => this.keepMine(id);
        box.append(take, keep);
      }
      entry.stateEl.append(box);
    } else if (entry.note) entry.stateEl.append(testid(el("span", "wb-row-error", entry.note), "wbDeskRowNote"));
  }

  placeChecked() {
    const mark = this.checked;
    const entry = mark ? this.rows.get(mark.segment_id) : null;
    if (!entry) {
      this.checkedEl.remove();
      return;
    }
    const at = mark.at ? String(mark.at).replace("T", " ").slice(0, 16) : "";
    this.checkedEl.textContent = `✓ 已核对至此 (checked up to here) · ${mark.by || ""} ${at}`;
    this.checkedEl.dataset.segmentId = String(mark.segment_id);
    entry.el.after(this.checkedEl);
  }

  // --- stage marks and log notes -----------------------------------------------------------------------------

  // The hearing's notes, or null when they could not be read (the desk works on without them).
  async fetchNotes() {
    try {
      const page = await this.request("GET", `/hearings/${encodeURIComponent(this.hid)}/notes?limit=${NOTES_LIMIT}`);
      return Array.isArray(page && page.items) ? page.items : [];
    } catch {
      return null;
    }
  }

  async refreshNotes() {
    const notes = await this.fetchNotes();
    if (notes && this.loaded) this.setNotes(notes);
  }

  setNotes(notes) {
    this.notes = notes
      .map((n) => ({ ...n, at: Number(n.at), end: n.end === null || n.end === undefined ? null : Number(n.end) }))
      .sort((a, b) => a.at - b.at || (NOTE_ORDER[a.kind] ?? 1) - (NOTE_ORDER[b.kind] ?? 1) || a.id - b.id);
    this.root.dataset.notes = String(this.notes.length);
    this.placeNotes();
  }

  // Each note after the last row that starts at or before it (before the first row when it is earlier), in time
  // order; a row not built yet gets its marks when its block is built.
  placeNotes() {
    for (const node of this.noteEls) node.remove();
    this.noteEls = [];
    const last = new Map(); // segment id (-1: the top) -> the mark placed last after it
    for (const note of this.notes) {
      const index = lastAtOrBefore(this.segs, note.at, (s) => s.start);
      const seg = index >= 0 ? this.segs[index] : null;
      const entry = seg ? this.rows.get(seg.id) : null;
      if (seg && (!entry || !seg.block.built)) continue;
      const node = this.noteEl(note);
      const anchor = seg ? seg.id : -1;
      const before = last.get(anchor);
      if (before) before.after(node);
      else if (entry) entry.el.after(node);
      else this.list.prepend(node);
      last.set(anchor, node);
      this.noteEls.push(node);
    }
  }

  noteEl(note) {
    const node = testid(el("div", "wb-note"), "wbDeskNote");
    node.dataset.kind = note.kind;
    node.dataset.noteId = String(note.id);
    node.dataset.at = String(note.at);
    const span = clock(note.at) + (note.end !== null ? `—${clock(note.end)}` : "");
    let words = `注 (note)：${note.text}`;
    if (note.kind === "stage") words = `▸ ${note.text}`;
    else if (note.kind === "recess") words = `休庭 (recess)${note.text ? `：${note.text}` : ""}`;
    node.append(el("span", "wb-time", span), el("span", "wb-note-text", words));
    node.title = `${note.created_by || ""} · 点击从此播放 (click: play from here)`;
    return node;
  }

  // Where a mark goes: the audio's position; without a recording, the selected row's start.
  markTime() {
    if (this.recordingId) return Math.round(this.now() * 10) / 10;
    const seg = this.segs[this.sel < 0 ? 0 : this.sel];
    return seg ? seg.start : 0;
  }

  // The stage most likely next at `t`: the one after the last stage marked before it, in the stages' order.
  nextStage(t) {
    const before = this.notes.filter((n) => n.kind === "stage" && n.at <= t);
    if (!this.stages.length) return "";
    if (!before.length) return this.stages[0];
    const i = this.stages.indexOf(before[before.length - 1].text);
    return i < 0 ? this.stages[1] ?? this.stages[0] : this.stages[Math.min(i + 1, this.stages.length - 1)];
  }

  openMark(kind) {
    if (!this.mayEdit) return this.say("只读：不能添加阶段或笔记 (read-only: no stage marks or notes)");
    if (this.markPanel.hidden) {
      const focused = this.focusedRowEl(); // typing goes on where it was once the mark is saved
      this.markReturn = focused ? { textEl: focused, caret: this.caret(focused) } : null;
    }
    const at = this.markTime();
    this.mark = { kind, at };
    this.markPanel.hidden = false;
    this.markPanel.dataset.kind = kind;
    this.markKindEl.textContent = kind === "stage" ? "庭审阶段 (stage)" : "笔记 (note)";
    this.markTimeEl.textContent = clock(at);
    this.markText.maxLength = kind === "stage" ? this.stageMax : this.noteMax;
    if (kind === "stage") this.markText.setAttribute("list", this.stageList.id);
    else this.markText.removeAttribute("list");
    this.markText.placeholder = kind === "stage" ? "阶段名称 (the stage)" : "笔记内容 (the note), e.g. 出示证据一";
    this.markText.value = kind === "stage" ? this.nextStage(at) : "";
    this.markNote.textContent = "";
    this.markNote.dataset.state = "";
    this.markText.focus();
    this.markText.select();
  }

  closeMark() {
    this.markPanel.hidden = true;
    this.mark = null;
    const back = this.markReturn;
    this.markReturn = null;
    if (back && back.textEl.isConnected && this.mayEdit) {
      const at = back.caret || { start: back.textEl.textContent.length, end: back.textEl.textContent.length };
      this.setCaret(back.textEl, at.start, at.end);
      this.setMode("edit");
    } else this.toNav();
  }

  async saveMark() {
    const mark = this.mark;
    if (!mark || this.markSave.disabled) return;
    const text = this.markText.value.trim();
    if (!text) {
      this.markNote.dataset.state = "error";
      this.markNote.textContent = mark.kind === "stage" ? "请输入阶段名称 (name the stage)" : "请输入笔记内容 (type the note)";
      return;
    }
    this.markSave.disabled = true;
    try {
      const note = await this.request("POST", `/hearings/${encodeURIComponent(this.hid)}/notes`, { kind: mark.kind, at: mark.at, text });
      this.setNotes([...this.notes.filter((n) => n.id !== note.id), note]);
      this.closeMark();
      this.say(mark.kind === "stage" ? `已标记阶段 (stage marked)：${text} · ${clock(mark.at)}` : `已添加笔记 (note added) · ${clock(mark.at)}`);
    } catch (e) {
      this.markNote.dataset.state = "error";
      this.markNote.textContent = `未保存 (not saved): ${e.message}`;
    } finally {
      this.markSave.disabled = false;
    }
  }

  // --- selection, caret, modes ------------------------------------------------------------------------------

  focusedRowEl() {
    const shadow = this.root.getRootNode();
    const active = shadow.activeElement ?? document.activeElement;
    return active && active.dataset && active.dataset.testid === "wbDeskText" ? active : null;
  }

  rowIndexOf(node) {
    const row = node && node.closest ? node.closest("[data-testid=wbDeskRow]") : null;
    if (!row) return -1;
    const seg = this.byId.get(Number(row.dataset.segmentId));
    return seg ? seg.index : -1;
  }

  selection() {
    const shadow = this.root.getRootNode();
    return typeof shadow.getSelection === "function" ? shadow.getSelection() : document.getSelection();
  }

  // The selection inside `textEl` as string indexes {start, end}, or null when it is elsewhere.
  caret(textEl) {
    const selection = this.selection();
    if (!selection || !selection.rangeCount) return null;
    const range = selection.getRangeAt(0);
    if (!textEl.contains(range.startContainer) || !textEl.contains(range.endContainer)) return null;
    return {
      start: offsetIn(textEl, range.startContainer, range.startOffset),
      end: offsetIn(textEl, range.endContainer, range.endOffset),
    };
  }

  setCaret(textEl, start, end, focus = true) {
    if (focus && this.mayEdit) textEl.focus({ preventScroll: true });
    const range = document.createRange();
    const [sn, so] = pointIn(textEl, start);
    const [en, eo] = pointIn(textEl, end ?? start);
    range.setStart(sn, so);
    range.setEnd(en, eo);
    const selection = document.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  select(index, { scroll = "nearest" } = {}) {
    if (index < 0 || index >= this.segs.length) return;
    const old = this.segs[this.sel];
    if (old) this.rows.get(old.id)?.el.classList.remove("wb-selected");
    this.sel = index;
    this.ensureBuilt(index);
    const entry = this.rows.get(this.segs[index].id);
    if (!entry) return;
    entry.el.classList.add("wb-selected");
    if (scroll) this.scrollTo(entry.el, scroll);
  }

  // Scrolls the list (instantly) so that `rowEl` is in view: "start" puts it a third down, "nearest" only
  // moves when it is out of the middle of the view.
  scrollTo(rowEl, how) {
    const view = this.scroller.getBoundingClientRect();
    const box = rowEl.getBoundingClientRect();
    if (how === "nearest" && box.top >= view.top + view.height * 0.08 && box.bottom <= view.bottom - view.height * 0.15) return;
    this.scroller.scrollTop += box.top - view.top - view.height / 3;
  }

  setMode(mode) {
    if (this.root.dataset.mode !== mode) this.root.dataset.mode = mode;
  }

  onFocus(e) {
    const index = this.rowIndexOf(e.target);
    if (e.target.dataset && e.target.dataset.testid === "wbDeskText" && index >= 0) {
      this.select(index, { scroll: false });
      this.setMode("edit");
    } else if (e.target === this.root) this.setMode("nav");
  }

  onBlur(e) {
    const index = this.rowIndexOf(e.target);
    if (index < 0) return;
    const seg = this.segs[index];
    const top = this.undoStack[this.undoStack.length - 1];
    if (top && top.open === seg.id) top.open = null; // the next typing in this row is a new undo step
    const leaving = !e.relatedTarget || !this.root.contains(e.relatedTarget);
    if (leaving) this.setMode("nav");
    if (seg && this.rows.get(seg.id)?.stale && !this.pending.has(seg.id)) this.refreshRow(seg);
  }

  editRow(index, where = "end") {
    if (!this.mayEdit || index < 0) return;
    this.select(index);
    const entry = this.rows.get(this.segs[index].id);
    if (!entry) return;
    const length = entry.textEl.textContent.length;
    const at = where === "start" ? 0 : where === "end" ? length : where;
    this.setCaret(entry.textEl, at, at);
    this.setMode("edit");
  }

  toNav() {
    this.root.focus({ preventScroll: true });
    this.setMode("nav");
  }

  // --- keys ---------------------------------------------------------------------------------------------------

  onKey(e) {
    e.stopPropagation(); // the app's own hotkeys (r: rerun ...) must not fire from inside the desk
    if (!this.loaded) return;
    if (!this.sheet.hidden) {
      if (e.key === "Escape" || e.key === "?") {
        e.preventDefault();
        this.toggleSheet();
        return;
      }
    }
    const key = e.key;
    const ctrl = e.ctrlKey || e.metaKey;
    const handled = () => e.preventDefault();
    // anywhere in the desk, also while typing
    if (key === "F9" || key === "F4") return handled(), this.toggle();
    if (key === "F7") return handled(), e.shiftKey ? this.setRate(this.rate - 0.1) : this.skip(-SEEK_S);
    if (key === "F8") return handled(), e.shiftKey ? this.setRate(this.rate + 0.1) : this.skip(SEEK_S);
    if (e.altKey && (key === "ArrowDown" || key === "ArrowUp")) return handled(), this.step(key === "ArrowDown" ? 1 : -1, true);
    if (e.altKey && (e.code === "KeyN" || key === "n" || key === "N")) return handled(), this.nextLow(e.shiftKey ? -1 : 1);
    if (e.altKey && !ctrl && (e.code === "KeyS" || e.code === "KeyL")) return handled(), this.openMark(e.code === "KeyS" ? "stage" : "note");
    const target = e.composedPath()[0];
    const inField = this.findPanel.contains(target) || target.tagName === "INPUT" || target.tagName === "TEXTAREA";
    if (ctrl && !e.altKey && (e.code === "KeyZ" || e.code === "KeyY") && !inField) {
      // (in the find box Ctrl+Z is the box's own undo, not the transcript's)
      const redo = e.code === "KeyY" || e.shiftKey;
      if (!this.mayEdit) return;
      return handled(), redo ? this.redo() : this.undo();
    }

    if (this.markPanel.contains(target)) {
      if (key === "Escape") return handled(), this.closeMark();
      if (key === "Enter" && !e.isComposing && e.keyCode !== 229) return handled(), this.saveMark();
      return;
    }
    if (this.findPanel.contains(target)) {
      if (key === "Escape") return handled(), this.closeFind();
      if (key === "Enter" && target.tagName === "INPUT") return handled(), e.ctrlKey ? this.applyReplace() : this.previewReplace();
      return;
    }
    if (this.root.dataset.mode === "edit" && target.dataset && target.dataset.testid === "wbDeskText") {
      this.onEditKey(e, target);
      return;
    }
    if (ctrl || e.altKey) return;
    this.onNavKey(e);
  }

  onEditKey(e, textEl) {
    if (e.isComposing || e.keyCode === 229) return; // the IME's own keys
    const index = this.rowIndexOf(textEl);
    const caret = this.caret(textEl);
    const length = textEl.textContent.length;
    if (e.key === "Escape") {
      e.preventDefault();
      this.toNav();
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (caret && caret.start === caret.end && caret.start > 0 && caret.start < length) this.split(index, caret.start);
      else this.say("在文字中间按 Enter 拆分 (put the caret inside the text to split)");
    } else if (e.key === "Delete" && caret && caret.start === caret.end && caret.start === length) {
      e.preventDefault();
      this.merge(index);
    } else if (e.key === "Backspace" && caret && caret.start === caret.end && caret.start === 0) {
      e.preventDefault();
      if (index > 0) this.merge(index - 1);
    }
  }

  onNavKey(e) {
    const key = e.key;
    const go = (fn) => {
      e.preventDefault();
      fn();
    };
    if (key === " " || key === "Spacebar") return go(() => this.toggle());
    if (key === "ArrowLeft") return go(() => this.skip(-SEEK_S));
    if (key === "ArrowRight") return go(() => this.skip(SEEK_S));
    if (key === "ArrowDown") return go(() => this.step(1, false));
    if (key === "ArrowUp") return go(() => this.step(-1, false));
    if (key === "[") return go(() => this.setRate(this.rate - 0.1));
    if (key === "]") return go(() => this.setRate(this.rate + 0.1));
    if (key === "n") return go(() => this.nextLow(1));
    if (key === "N") return go(() => this.nextLow(-1));
    if (key === "f") return go(() => this.setFollow(!this.follow));
    if (key === "/") return go(() => this.openFind());
    if (key === "?") return go(() => this.toggleSheet());
    if (key === "Escape" && !this.findPanel.hidden) return go(() => this.closeFind());
    if (key === "s" || key === "l") return go(() => this.openMark(key === "s" ? "stage" : "note"));
    if (!this.mayEdit) return;
    if (key === "Enter" || key === "i") return go(() => this.editRow(this.sel < 0 ? 0 : this.sel));
    if (key === "m") return go(() => this.merge(this.sel));
    if (key === "c") return go(() => this.markChecked(this.sel));
    if (/^[1-9]$/.test(key)) return go(() => this.setSpeaker(this.sel, Number(key) - 1));
  }

  // Next/previous row; `seek` (Alt+↓/↑) also moves the audio to it; in a row being typed in, the caret follows.
  step(delta, seek) {
    const typing = this.root.dataset.mode === "edit";
    const index = Math.min(this.segs.length - 1, Math.max(0, (this.sel < 0 ? 0 : this.sel) + delta));
    if (typing) this.editRow(index, "start");
    else this.select(index);
    if (seek && this.recordingId) this.seek(this.segs[index].start, this.playing);
  }

  toggleSheet() {
    this.sheet.hidden = !this.sheet.hidden;
    if (!this.sheet.hidden) this.sheet.scrollTop = 0;
  }

  setFollow(on) {
    this.follow = on;
    this.root.dataset.follow = on ? "1" : "0";
    this.followButton.setAttribute("aria-pressed", on ? "true" : "false");
    this.followButton.classList.toggle("wb-on", on);
    if (on && this.current >= 0) this.followRow(this.current);
  }

  // --- low confidence -------------------------------------------------------------------------------------

  isLow(word) {
    return typeof word[4] === "number" && word[4] < this.threshold;
  }

  countLow(words) {
    let count = 0;
    for (const word of words) if (this.isLow(word)) count++;
    return count;
  }

  // Draws the count kept by update(), doSplit() and doMerge() (each adjusts it by the rows it changed).
  updateLowCount() {
    const count = this.lowCount;
    this.lowEl.textContent = `低置信 ${count} (low confidence)`;
    this.lowEl.dataset.count = String(count);
  }

  // Puts the caret on the next (dir 1) or previous (-1) low-confidence word after the caret or the selected
  // row, the word (with any unsure words touching it) selected: typing retypes it. Read-only: the word is
  // selected and the audio goes there.
  nextLow(dir) {
    if (!this.segs.length) return;
    let index = this.sel < 0 ? 0 : this.sel;
    let from = dir > 0 ? -1 : Infinity;
    const focused = this.focusedRowEl();
    if (focused && this.rowIndexOf(focused) === index) {
      const caret = this.caret(focused);
      if (caret) from = dir > 0 ? caret.end - 1 : caret.start;
      // a word already selected counts as passed
      if (caret && dir > 0 && caret.end > caret.start) from = caret.end - 1;
    }
    for (let n = 0; n <= this.segs.length; n++) {
      const seg = this.segs[index];
      const words = seg.words;
      const order = dir > 0 ? words.map((_, i) => i) : words.map((_, i) => words.length - 1 - i);
      for (const i of order) {
        const word = words[i];
        if (!this.isLow(word)) continue;
        if (dir > 0 ? word[2] <= from : word[2] >= from) continue;
        this.goToWord(index, i);
        return;
      }
      index = (index + dir + this.segs.length) % this.segs.length;
      from = dir > 0 ? -1 : Infinity;
    }
    this.say("没有低置信词 (no low-confidence words)");
  }

  // The stretch of low-confidence words around word i that touch in the text (nothing but spaces between):
  // a Chinese word recognised as two unsure characters is retyped as one.
  lowRun(seg, i) {
    const words = seg.words;
    const touches = (a, b) => /^\s*$/.test(seg.text.slice(words[a][3], words[b][2]));
    let first = i;
    let last = i;
    while (first > 0 && this.isLow(words[first - 1]) && touches(first - 1, first)) first--;
    while (last < words.length - 1 && this.isLow(words[last + 1]) && touches(last, last + 1)) last++;
    return [first, last];
  }

  goToWord(index, i) {
    const seg = this.segs[index];
    this.select(index);
    const entry = this.rows.get(seg.id);
    const [first, last] = this.lowRun(seg, i);
    if (this.mayEdit) entry.textEl.focus({ preventScroll: true });
    this.setCaret(entry.textEl, seg.words[first][2], seg.words[last][3], this.mayEdit);
    this.setMode(this.mayEdit ? "edit" : "nav");
    if (this.recordingId) this.seek(seg.words[first][0], this.playing);
  }

  // --- playback -------------------------------------------------------------------------------------------

  url(k) {
    return `/audio/${encodeURIComponent(this.recordingId)}?start=${k * WINDOW_S}&dur=${WINDOW_S}`;
  }

  now() {
    if (this.win < 0) return this.pendingSeek ?? 0;
    if (this.pendingSeek !== null && this.pendingSeek !== undefined) return this.pendingSeek;
    return this.win * WINDOW_S + (this.audio.currentTime || 0);
  }

  seek(t, play) {
    if (!this.recordingId) return;
    const end = this.duration > 0 ? this.duration : Infinity;
    t = Math.max(0, Math.min(t, end - 0.05));
    const k = Math.floor(t / WINDOW_S);
    if (k !== this.win) this.loadWindow(k);
    // applied now, or by onMetadata once the window's audio has loaded (the latest seek wins)
    this.pendingSeek = t;
    this.pendingPlay = Boolean(play);
    if (play) this.playing = true;
    if (this.audio.readyState >= 1) this.applySeek();
    this.drawTime(t);
  }

  applySeek() {
    if (this.pendingSeek === null || this.pendingSeek === undefined) return;
    const offset = this.pendingSeek - this.win * WINDOW_S;
    const play = this.pendingPlay;
    this.audio.currentTime = Math.max(0, offset);
    this.pendingSeek = null;
    this.tick(true);
    if (play) this.play();
  }

  onMetadata(audio) {
    if (audio === this.audio) this.applySeek();
  }

  loadWindow(k) {
    const wasPlaying = this.playing;
    if (!this.audio.paused) this.audio.pause();
    if (this.spare.dataset.win === String(k)) {
      // swap: the preloaded element becomes the player
      const old = this.audio;
      this.audio = this.spare;
      this.spare = old;
      old.removeAttribute("data-testid");
      testid(this.audio, "wbDeskAudio");
    } else {
      this.audio.src = this.url(k);
      this.audio.dataset.win = String(k);
    }
    this.audio.playbackRate = this.rate;
    this.win = k;
    this.playing = wasPlaying;
    if (wasPlaying) this.preloadNext();
  }

  // The window after this one, fetched while this one plays (not on opening: each window is a decode on the
  // server, which may be running a job beside the desk).
  preloadNext() {
    const next = this.win + 1;
    if (this.win < 0 || (this.duration > 0 && next * WINDOW_S >= this.duration)) return;
    if (this.spare.dataset.win !== String(next)) {
      this.spare.src = this.url(next);
      this.spare.dataset.win = String(next);
      this.spare.load();
    }
  }

  play() {
    if (!this.recordingId) return;
    if (this.win < 0) this.seek(this.now(), false);
    this.preloadNext();
    this.audio.playbackRate = this.rate;
    const started = this.audio.play();
    if (started && started.catch) started.catch(() => {});
  }

  toggle() {
    if (!this.recordingId) return;
    if (this.playing && !this.audio.paused) {
      this.playing = false;
      this.audio.pause();
    } else {
      this.playing = true;
      if (this.pendingSeek !== null && this.pendingSeek !== undefined) this.seek(this.pendingSeek, true);
      else this.play();
    }
  }

  skip(seconds) {
    if (!this.recordingId) return;
    this.seek(this.now() + seconds, this.playing);
  }

  setRate(rate) {
    this.rate = Math.round(Math.min(RATE_MAX, Math.max(RATE_MIN, rate)) * 10) / 10;
    this.audio.playbackRate = this.rate;
    this.spare.playbackRate = this.rate;
    this.speedEl.textContent = `${this.rate.toFixed(1)}×`;
  }

  onPlayState(audio) {
    if (audio !== this.audio) return;
    const on = !audio.paused;
    this.playButton.textContent = on ? "❚❚" : "▶";
    this.root.dataset.playing = on ? "1" : "0";
    if (on && !this.raf) this.raf = requestAnimationFrame(() => this.frame());
  }

  onEnded(audio) {
    if (audio !== this.audio) return;
    const next = (this.win + 1) * WINDOW_S;
    if (this.playing && (this.duration <= 0 || next < this.duration - 0.05)) this.seek(next, true);
    else this.playing = false;
  }

  frame() {
    this.raf = 0;
    this.tick(false);
    if (!this.audio.paused && !this.stopped) this.raf = requestAnimationFrame(() => this.frame());
  }

  drawTime(t) {
    const text = `${clock(t)} / ${clock(this.duration)}`;
    if (this.timeEl.textContent !== text) this.timeEl.textContent = text;
  }

  // One frame's work: where the audio is → the current row and word (binary searches, class toggles).
  tick(force) {
    if (!this.segs.length) return;
    const t = this.now();
    this.drawTime(t);
    const index = lastAtOrBefore(this.segs, t, (s) => s.start);
    if (index !== this.current || force) this.markCurrent(index, false);
    const seg = this.segs[index];
    let word = null;
    if (seg) {
      const entry = this.rows.get(seg.id);
      if (entry && !entry.stale) {
        const i = lastAtOrBefore(seg.words, t, (w) => w[0]);
        if (i >= 0 && t < seg.words[i][1] + 0.15) word = entry.spans[i] || null;
      }
    }
    if (word !== this.currentWord) {
      if (this.currentWord) this.currentWord.classList.remove("wb-now");
      if (word) word.classList.add("wb-now");
      this.currentWord = word;
    }
  }

  markCurrent(index, rebuilt) {
    const old = this.segs[this.current];
    if (old && !rebuilt) this.rows.get(old.id)?.el.classList.remove("wb-current");
    const changed = index !== this.current;
    this.current = index;
    const seg = this.segs[index];
    if (!seg) return;
    if (this.follow && changed && !rebuilt) this.followRow(index);
    this.rows.get(seg.id)?.el.classList.add("wb-current");
  }

  followRow(index) {
    this.ensureBuilt(index);
    const entry = this.rows.get(this.segs[index].id);
    if (!entry) return;
    // While the clerk types, the view stays with the caret (the highlight still moves); it follows again in
    // navigation mode.
    if (this.root.dataset.mode === "edit") return;
    this.scrollTo(entry.el, "nearest");
  }

  onClick(e) {
    const mark = e.target.closest ? e.target.closest("[data-testid=wbDeskNote]") : null;
    if (mark) {
      const t = Number(mark.dataset.at);
      const index = lastAtOrBefore(this.segs, t, (s) => s.start);
      if (index >= 0) this.select(index, { scroll: false });
      if (this.recordingId) {
        this.playing = true;
        this.seek(t, true);
      }
      return;
    }
    const index = this.rowIndexOf(e.target);
    if (index < 0) return;
    const selection = this.selection();
    const dragged = selection && selection.rangeCount && !selection.getRangeAt(0).collapsed;
    const word = e.target.closest(".wb-w");
    if (word && !dragged && this.recordingId) {
      const seg = this.segs[index];
      const w = seg.words[Number(word.dataset.i)];
      if (w) {
        this.playing = true;
        this.seek(w[0], true);
      }
    }
    if (!this.mayEdit) {
      this.select(index, { scroll: false });
      this.root.focus({ preventScroll: true });
    }
  }

  // --- typing and the save queue -------------------------------------------------------------------------

  onBeforeInput(e) {
    const type = e.inputType || "";
    if (type === "insertParagraph" || type === "insertLineBreak") {
      e.preventDefault(); // Enter splits instead
      return;
    }
    const target = e.composedPath()[0];
    if (!target.dataset || target.dataset.testid !== "wbDeskText" || typeof e.data !== "string" || !e.cancelable) return;
    const room = this.room(target);
    if (room !== null && charCount(e.data) > room) {
      e.preventDefault(); // the server would refuse the text whole: stop at its cap, and say so
      this.tooLong(target);
    }
  }

  // How many more characters fit in the row `textEl` (the typed-over selection given back), or null when
  // the row is not a known one.
  room(textEl) {
    const seg = this.segs[this.rowIndexOf(textEl)];
    if (!seg) return null;
    const text = textEl.textContent;
    const caret = this.caret(textEl) || { start: text.length, end: text.length };
    const kept = text.slice(0, caret.start) + text.slice(caret.end);
    return this.limitOf(seg) - charCount(kept);
  }

  // The server's cap for this segment's text: TEXT_MAX, or the stored text's length when that is longer.
  limitOf(seg) {
    return Math.max(this.textMax, charCount(seg.text));
  }

  tooLong(textEl) {
    const seg = this.segs[this.rowIndexOf(textEl)];
    if (!seg) return;
    const entry = this.rows.get(seg.id);
    if (entry) {
      entry.note = `每段最多 ${this.limitOf(seg)} 字，请按 Enter 拆分 (at most ${this.limitOf(seg)} characters a segment: press Enter to split)`;
      this.drawRowState(seg.id);
    }
    this.say(`本段已达 ${this.limitOf(seg)} 字上限 (the segment is at its length limit)`);
  }

  onPaste(e) {
    const target = e.composedPath()[0];
    if (!target.dataset || target.dataset.testid !== "wbDeskText") return;
    e.preventDefault();
    let text = ((e.clipboardData && e.clipboardData.getData("text/plain")) || "").replace(/\s*[\r\n]+\s*/g, " ");
    const room = this.room(target);
    if (room !== null && charCount(text) > room) {
      text = firstChars(text, room); // as much as fits; the rest is not lost from the clipboard
      this.tooLong(target);
    }
    if (text) document.execCommand("insertText", false, text);
  }

  onInput(e) {
    const target = e.composedPath()[0];
    if (!target.dataset || target.dataset.testid !== "wbDeskText") return;
    const index = this.rowIndexOf(target);
    if (index < 0) return;
    const seg = this.segs[index];
    const entry = this.rows.get(seg.id);
    if (entry) {
      entry.stale = true; // the spans are out of date until the save returns
      if (entry.note && charCount(target.textContent) < this.limitOf(seg)) entry.note = null;
    }
    this.queue(seg, { text: target.textContent });
  }

  queue(seg, change) {
    const pending = this.pending.get(seg.id) || { base: seg.version };
    Object.assign(pending, change);
    pending.typedAt = performance.now();
    pending.error = null;
    pending.fatal = false; // a refused row is tried again with what is typed now (it may well pass)
    const sending = this.sending.has(seg.id);
    if (!sending && pending.text !== undefined && pending.text === seg.text && pending.speaker === undefined) {
      this.pending.delete(seg.id); // typed back to what is stored (and nothing else on its way)
    } else this.pending.set(seg.id, pending);
    this.persistPending();
    this.drawRowState(seg.id);
    this.drawSaving();
    this.later("flushTimer", () => this.flush(), DEBOUNCE_MS);
  }

  persistPending() {
    const kept = {};
    for (const [id, p] of this.pending) {
      kept[id] = { base: p.base };
      if (p.text !== undefined) kept[id].text = p.text;
      if (p.speaker !== undefined) kept[id].speaker = p.speaker;
    }
    writeStore(this.storeKey("pending"), this.pending.size ? kept : null);
  }

  // Unsaved changes from before a reload: resent against the version they were made on (stale if it moved).
  // One whose segment is gone (merged away or split since) is kept aside as an orphan and shown, never dropped;
  // one already equal to what is stored (a save whose answer was lost) is dropped.
  restorePending() {
    const kept = readStore(this.storeKey("pending"));
    if (!kept || typeof kept !== "object") return this.addOrphans([]); // those kept aside before are shown
    const orphans = [];
    for (const [id, p] of Object.entries(kept)) {
      if (!p || typeof p !== "object" || typeof p.base !== "number") continue;
      const change = { base: p.base, typedAt: performance.now() };
      if (typeof p.text === "string") change.text = p.text;
      if (typeof p.speaker === "string") change.speaker = p.speaker;
      const seg = this.byId.get(Number(id));
      if (!seg) {
        orphans.push({ segment_id: Number(id), text: change.text, speaker: change.speaker });
        continue;
      }
      const sameText = change.text === undefined || change.text === seg.text;
      const sameSpeaker = change.speaker === undefined || change.speaker === seg.speaker;
      if (sameText && sameSpeaker) continue;
      this.pending.set(seg.id, change);
    }
    this.addOrphans(orphans);
    this.persistPending();
    if (this.pending.size) {
      this.say(`恢复了 ${this.pending.size} 处未保存的修改 (resending unsaved changes)`);
      this.later("flushTimer", () => this.flush(), DEBOUNCE_MS);
    }
    this.drawSaving();
  }

  // Unsaved text whose segment no longer exists: kept in localStorage (wb-desk-orphans-<account>-<hearing>) and
  // shown above the rows with a copy button until the clerk dismisses it.
  addOrphans(orphans) {
    const known = readStore(this.storeKey("orphans"));
    this.orphans = Array.isArray(known) ? known.filter((o) => o && typeof o === "object") : [];
    for (const o of orphans) if (o.text !== undefined || o.speaker !== undefined) this.orphans.push({ ...o, at: new Date().toISOString() });
    writeStore(this.storeKey("orphans"), this.orphans.length ? this.orphans : null);
    this.drawOrphans();
  }

  drawOrphans() {
    if (!this.orphanEl) {
      this.orphanEl = testid(el("div", "wb-orphans"), "wbDeskOrphans");
      this.scroller.before(this.orphanEl);
    }
    this.orphanEl.replaceChildren();
    this.orphanEl.hidden = !this.orphans.length;
    if (!this.orphans.length) return;
    this.orphanEl.append(
      el("div", "wb-orphans-title", `${this.orphans.length} 处未保存的文字，其所在段已被拆分或合并：请复制后放回 (unsaved text whose segment has gone: copy it back where it belongs)`),
    );
    this.orphans.forEach((o, i) => {
      const line = testid(el("div", "wb-orphan"), "wbDeskOrphan");
      const text = o.text ?? "";
      line.append(el("span", "wb-orphan-text", text || `说话人 (speaker) ${o.speaker}`));
      const copy = testid(this.button("复制 (copy)", "复制这段文字 (copy this text)", () => this.copyText(text)), "wbDeskOrphanCopy");
      const drop = testid(this.button("丢弃 (dismiss)", "不再显示 (dismiss)", () => this.dropOrphan(i)), "wbDeskOrphanDismiss");
      line.append(copy, drop);
      this.orphanEl.append(line);
    });
  }

  dropOrphan(i) {
    this.orphans.splice(i, 1);
    writeStore(this.storeKey("orphans"), this.orphans.length ? this.orphans : null);
    this.drawOrphans();
  }

  async copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      this.say("已复制 (copied)");
    } catch {
      this.say(`无法访问剪贴板，请手动复制 (no clipboard: copy by hand): ${text}`);
    }
  }

  drawSaving() {
    let waiting = 0;
    let errors = 0;
    let stale = 0;
    for (const p of this.pending.values()) {
      if (p.stale) stale++;
      else if (p.error) errors++;
      else waiting++;
    }
    const total = this.pending.size;
    this.root.dataset.saving = total ? `${total} pending` : "0";
    let text = "已保存 (saved)";
    if (stale) text = `${stale} 处冲突 (conflict): 请选择 (choose)`;
    else if (this.failures > 0) text = `保存失败，重试中 (${this.failures}) (save failed, retrying)`;
    else if (errors) text = `${errors} 处保存失败 (not saved)`;
    else if (waiting || this.inflight) text = "保存中… (saving)";
    this.saveEl.textContent = text;
    this.saveEl.dataset.state = stale ? "stale" : this.failures || errors ? "error" : waiting || this.inflight ? "saving" : "saved";
  }

  // Runs `fn` after every write before it: one request in flight at a time, versions always current.
  serial(fn) {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  flush() {
    this.cancel("flushTimer");
    return this.serial(() => this.sendPending());
  }

  retryNow() {
    if (this.retryTimer) {
      this.cancel("retryTimer");
      this.flush();
    }
  }

  // Sends every unsaved row (not a conflict) as one POST /edits; call inside serial().
  async sendPending() {
    const batch = [];
    const ready = [...this.pending].filter(([, p]) => !p.stale && !p.fatal);
    // Rows of a batch the server refused without naming the item go one at a time: one bad row cannot hold
    // back the rest.
    const solo = ready.find(([, p]) => p.solo);
    for (const [id, p] of solo ? [solo] : ready) {
      const seg = this.byId.get(id);
      if (seg && p.text !== undefined && charCount(p.text) > this.limitOf(seg)) {
        // the server refuses a whole request for one text over its cap: this row waits for a shorter text
        p.fatal = true;
        p.error = `超过 ${this.limitOf(seg)} 字，未保存；请删短或按 Enter 拆分 (over ${this.limitOf(seg)} characters: not saved)`;
        this.drawRowState(id);
        continue;
      }
      const item = { segment_id: id, version: p.base };
      if (p.text !== undefined) item.text = p.text;
      if (p.speaker !== undefined) item.speaker = p.speaker;
      batch.push({ item, sent: { text: p.text, speaker: p.speaker }, typedAt: p.typedAt });
      if (batch.length >= BATCH_MAX) break;
    }
    if (!batch.length) {
      this.drawSaving();
      return true;
    }
    this.inflight = true;
    this.sending = new Set(batch.map((b) => b.item.segment_id));
    this.drawSaving();
    let reply;
    try {
      reply = await this.request("POST", `/hearings/${encodeURIComponent(this.hid)}/edits`, {
        edits: batch.map((b) => b.item),
      });
    } catch (e) {
      this.inflight = false;
      this.sending.clear();
      this.saveFailed(e, batch);
      return false;
    }
    this.inflight = false;
    this.sending.clear();
    this.failures = 0;
    const storedAt = performance.now();
    const steps = [];
    for (const result of reply.results || []) {
      const sent = batch.find((b) => b.item.segment_id === result.segment_id);
      const seg = this.byId.get(result.segment_id);
      if (!sent || !seg) continue;
      const pending = this.pending.get(seg.id);
      if (pending) delete pending.solo;
      if (result.ok) {
        const before = { text: seg.text, speaker: seg.speaker };
        this.update(seg, { text: result.text, speaker: result.speaker, version: result.version, words: result.words, edited: true });
        steps.push({ id: seg.id, before, after: { text: seg.text, speaker: seg.speaker }, fields: sent.sent });
        this.recordSave(seg.id, sent.typedAt, storedAt);
        if (pending && pending.text === sent.sent.text && pending.speaker === sent.sent.speaker) this.pending.delete(seg.id);
        else if (pending) {
          pending.base = seg.version; // typed on meanwhile: the rest goes against the new version
          if (pending.speaker === sent.sent.speaker) delete pending.speaker;
        }
        // the row shows the stored words now (the caret kept where it was); still typing: later
        if (!this.pending.has(seg.id)) this.refreshRow(seg);
        else this.drawRowState(seg.id);
      } else if (result.error === "stale" && pending) {
        this.stats.stale += 1;
        pending.stale = true;
        pending.current = result.current || {};
        pending.staleDetail = result.detail;
        this.drawRowState(seg.id);
      } else if (pending) {
        pending.fatal = true;
        pending.error = `${result.detail || result.error || "未保存 (not saved)"}`;
        this.drawRowState(seg.id);
      }
    }
    this.pushEdits(steps);
    this.persistPending();
    this.updateLowCount();
    this.drawSaving();
    if ([...this.pending.values()].some((p) => !p.stale && !p.fatal)) {
      this.later("flushTimer", () => this.flush(), DEBOUNCE_MS);
    }
    return true;
  }

  recordSave(id, typedAt, storedAt) {
    const saves = this.stats.saves;
    saves.push({ segment_id: id, typed_at: typedAt, stored_at: storedAt });
    if (saves.length > STATS_KEEP) saves.splice(0, saves.length - STATS_KEEP);
  }

  saveFailed(e, batch) {
    this.stats.failures += 1;
    const status = e instanceof HttpError ? e.status : 0;
    if (status === 422 && batch.length > 1) {
      // One item is malformed or too long (the answer names it as edits[n]): only that row is refused, the
      // others go again at once. Not named: each row is sent alone, and the bad one refused by itself.
      const named = /edits\[(\d+)\]/.exec(e.message);
      const bad = named && Number(named[1]) < batch.length ? Number(named[1]) : -1;
      batch.forEach((b, i) => {
        const pending = this.pending.get(b.item.segment_id);
        if (!pending) return;
        if (i === bad) {
          pending.fatal = true;
          pending.error = `未保存 (not saved): ${e.message.replace(/^edits\[\d+\]\.?/, "")}`;
        } else if (bad < 0) pending.solo = true;
        this.drawRowState(b.item.segment_id);
      });
      if (bad >= 0) this.say(`一段保存被拒绝 (one row refused): ${e.message.replace(/^edits\[\d+\]\.?/, "")}`);
      this.drawSaving();
      this.later("flushTimer", () => this.flush(), DEBOUNCE_MS);
      return;
    }
    // Refusals that a retry cannot change: shown on the rows, kept in localStorage, not resent by themselves.
    if (status === 403 || status === 404 || status === 422 || status === 400) {
      for (const b of batch) {
        const pending = this.pending.get(b.item.segment_id);
        if (pending) {
          pending.fatal = true;
          pending.solo = false;
          pending.error = `未保存 (not saved): ${e.message.replace(/^edits\[\d+\]\.?/, "")}`;
          this.drawRowState(b.item.segment_id);
        }
      }
      this.say(`保存被拒绝 (save refused): ${e.message}`);
      this.drawSaving();
      return;
    }
    this.failures += 1;
    for (const b of batch) {
      const pending = this.pending.get(b.item.segment_id);
      if (pending) {
        pending.error = status === 401 ? "登录已过期，请重新登录 (signed out: sign in again)" : "保存失败，将重试 (failed, retrying)";
        this.drawRowState(b.item.segment_id);
      }
    }
    this.drawSaving();
    const wait = Math.min(RETRY_MAX_S, 2 ** Math.min(this.failures - 1, 5));
    this.later("retryTimer", () => {
      for (const p of this.pending.values()) if (!p.fatal && !p.stale) p.error = null;
      this.flush();
    }, wait * 1000);
  }

  takeTheirs(id) {
    const seg = this.byId.get(id);
    const pending = this.pending.get(id);
    if (!seg || !pending) return;
    const current = pending.current || {};
    this.update(seg, {
      text: current.text ?? seg.text,
      speaker: current.speaker ?? seg.speaker,
      version: current.version ?? seg.version,
      words: Array.isArray(current.words) ? current.words : [], // placed on their text; none: plain text
    });
    this.pending.delete(id);
    this.persistPending();
    this.refreshRow(seg);
    this.drawSaving();
    if (current.reshaped) {
      // split or merged by someone else: mine is kept aside to copy, and the rows are drawn again
      if (pending.text !== undefined && pending.text !== current.text) {
        this.addOrphans([{ segment_id: id, text: pending.text, speaker: pending.speaker }]);
      }
      this.reload();
    }
  }

  // Draws the rows again from a fresh GET /desk (someone else split or merged): unsaved changes are kept (they
  // are in localStorage and read back as after a page reload); the undo history is not (its rows moved).
  reload() {
    return this.serial(async () => {
      this.persistPending();
      this.observer.disconnect();
      this.blocks = [];
      this.segs = [];
      this.byId.clear();
      this.rows.clear();
      this.pending.clear();
      this.list.replaceChildren();
      this.undoStack = [];
      this.redoStack = [];
      this.current = -1;
      this.sel = -1;
      this.currentWord = null;
      this.measured = false;
      this.loaded = false;
      await this.load({ again: true });
    });
  }

  keepMine(id) {
    const pending = this.pending.get(id);
    if (!pending) return;
    const current = pending.current || {};
    if (typeof current.version === "number") pending.base = current.version;
    pending.stale = false;
    pending.current = null;
    this.persistPending();
    this.drawRowState(id);
    this.flush();
  }

  // Saves everything typed so far first (split, merge, undo work on stored versions); false if it could not.
  async settle(id) {
    this.cancel("flushTimer");
    if (!this.pending.size) return true;
    await this.sendPending();
    if (id !== undefined && this.pending.has(id)) {
      this.say("这一行还没保存，请稍候 (this row is not saved yet)");
      return false;
    }
    return true;
  }

  // --- undo / redo ----------------------------------------------------------------------------------------

  pushEdits(steps) {
    for (const step of steps) {
      const top = this.undoStack[this.undoStack.length - 1];
      const onlyText = step.fields.text !== undefined && step.fields.speaker === undefined;
      if (onlyText && top && top.kind === "edit" && top.open === step.id && top.items.length === 1) {
        top.items[0].after = step.after; // one typing run in one row is one undo step
        continue;
      }
      const focusedId = this.focusedRowEl() ? this.segs[this.rowIndexOf(this.focusedRowEl())]?.id : null;
      this.undoStack.push({ kind: "edit", items: [{ id: step.id, before: step.before, after: step.after }], open: onlyText && focusedId === step.id ? step.id : null });
      this.redoStack = [];
    }
  }

  closeTyping() {
    const top = this.undoStack[this.undoStack.length - 1];
    if (top) top.open = null;
  }

  undo() {
    return this.serial(async () => {
      if (!(await this.settle())) return;
      this.closeTyping();
      const step = this.undoStack.pop();
      if (!step) return this.say("没有可撤销的修改 (nothing to undo)");
      const ok = await this.apply(step, "undo");
      if (ok) this.redoStack.push(step);
    });
  }

  redo() {
    return this.serial(async () => {
      if (!(await this.settle())) return;
      const step = this.redoStack.pop();
      if (!step) return this.say("没有可重做的修改 (nothing to redo)");
      const ok = await this.apply(step, "redo");
      if (ok) this.undoStack.push(step);
    });
  }

  async apply(step, way) {
    const undo = way === "undo";
    try {
      if (step.kind === "edit") {
        const edits = [];
        for (const item of step.items) {
          const seg = this.byId.get(item.id);
          if (!seg) continue;
          const want = undo ? item.before : item.after;
          const edit = { segment_id: seg.id, version: seg.version };
          if (want.text !== seg.text) edit.text = want.text;
          if (want.speaker !== seg.speaker && want.speaker) edit.speaker = want.speaker;
          if (edit.text !== undefined || edit.speaker !== undefined) edits.push(edit);
        }
        if (!edits.length) return true;
        const reply = await this.request("POST", `/hearings/${encodeURIComponent(this.hid)}/edits`, { edits });
        let failed = 0;
        for (const result of reply.results || []) {
          const seg = this.byId.get(result.segment_id);
          if (!seg) continue;
          if (result.ok) {
            this.update(seg, { text: result.text, speaker: result.speaker, version: result.version, words: result.words, edited: true });
            this.refreshRow(seg);
          } else failed++;
        }
        this.updateLowCount();
        const where = this.byId.get(step.items[0].id);
        if (where) this.select(where.index);
        this.say(failed ? `${failed} 处已被他人修改，未能${undo ? "撤销" : "重做"} (changed by someone else)` : undo ? "已撤销 (undone)" : "已重做 (redone)");
        return failed === 0;
      }
      if ((step.kind === "split") === undo) {
        // undo a split, or redo a merge: merge the row with the one after it
        const seg = this.byId.get(step.id);
        if (!seg) throw new Error("segment gone");
        const joinedAt = await this.doMerge(seg.index);
        if (step.kind === "merge") step.joinedAt = joinedAt ?? step.joinedAt;
      } else {
        const seg = this.byId.get(step.id);
        if (!seg) throw new Error("segment gone");
        const second = await this.doSplit(seg.index, step.kind === "split" ? step.at : step.joinedAt);
        if (second) step.secondId = second.id;
        if (second && step.kind === "merge" && step.removedSpeaker && second.speaker !== step.removedSpeaker) {
          // the split's second half takes the first's speaker: give back the merged-away one's
          const reply = await this.request("POST", `/hearings/${encodeURIComponent(this.hid)}/edits`, {
            edits: [{ segment_id: second.id, speaker: step.removedSpeaker, version: second.version }],
          });
          const result = (reply.results || [])[0];
          if (result && result.ok) {
            this.update(second, { speaker: result.speaker, version: result.version });
            this.refreshRow(second);
          }
        }
      }
      this.say(undo ? "已撤销 (undone)" : "已重做 (redone)");
      return true;
    } catch (e) {
      this.say(`无法${undo ? "撤销" : "重做"} (could not ${way}): ${e.message}`);
      return false;
    }
  }

  // --- split, merge, speaker, checked ---------------------------------------------------------------------

  split(index, at) {
    if (!this.mayEdit || index < 0) return;
    const id = this.segs[index].id;
    return this.serial(async () => {
      if (!(await this.settle(id))) return;
      const seg = this.byId.get(id);
      try {
        const second = await this.doSplit(seg.index, at);
        this.closeTyping();
        this.undoStack.push({ kind: "split", id, at, secondId: second.id });
        this.redoStack = [];
        this.editRow(second.index, "start");
      } catch (e) {
        this.say(`拆分失败 (split failed): ${e.message}`);
      }
    });
  }

  async doSplit(index, at) {
    const seg = this.segs[index];
    if (this.pending.has(seg.id)) throw new Error("本段有未保存的修改 (the row has unsaved changes)");
    const reply = await this.request("POST", `/segments/${encodeURIComponent(seg.id)}/split`, { at, version: seg.version });
    const [first, second] = reply.segments;
    this.update(seg, first);
    const added = this.model(second);
    this.lowCount += added.low;
    added.block = seg.block;
    const inBlock = seg.block.segs.indexOf(seg);
    seg.block.segs.splice(inBlock + 1, 0, added);
    this.segs.splice(index + 1, 0, added);
    this.reindex();
    this.rebuildBlock(seg.block);
    this.afterReshape(index);
    return added;
  }

  merge(index) {
    if (!this.mayEdit || index < 0 || index >= this.segs.length - 1) {
      if (index === this.segs.length - 1) this.say("最后一段，无可合并 (no next segment)");
      return;
    }
    const id = this.segs[index].id;
    const nextId = this.segs[index + 1].id;
    return this.serial(async () => {
      if (!(await this.settle(id))) return;
      if (this.pending.has(nextId)) return this.say("下一行还没保存，请稍候 (the next row is not saved yet)");
      const seg = this.byId.get(id);
      try {
        const removed = this.segs[seg.index + 1];
        const removedSpeaker = removed.speaker;
        const joinedAt = await this.doMerge(seg.index);
        this.closeTyping();
        this.undoStack.push({ kind: "merge", id, joinedAt, removedId: removed.id, removedSpeaker });
        this.redoStack = [];
        this.editRow(seg.index, joinedAt);
      } catch (e) {
        this.say(`合并失败 (merge failed): ${e.message}`);
      }
    });
  }

  async doMerge(index) {
    const seg = this.segs[index];
    const next = this.segs[index + 1];
    if (!next) throw new Error("没有下一段 (no next segment)");
    // the server joins the stored texts: a row's unsaved text would be dropped (undo/redo come here too)
    if (this.pending.has(seg.id) || this.pending.has(next.id)) {
      throw new Error("有未保存的修改，请先保存 (a row has unsaved changes: save it first)");
    }
    const reply = await this.request("POST", `/segments/${encodeURIComponent(seg.id)}/merge`, {
      version: seg.version,
      next_version: next.version,
    });
    this.update(seg, reply.segment);
    const gone = this.byId.get(reply.removed) || next;
    gone.block.segs.splice(gone.block.segs.indexOf(gone), 1);
    this.segs.splice(gone.index, 1);
    this.rows.delete(gone.id);
    this.lowCount -= gone.low;
    const lost = this.pending.get(gone.id); // typed there while the merge was on its way: kept to copy back
    if (lost) {
      this.pending.delete(gone.id);
      this.addOrphans([{ segment_id: gone.id, text: lost.text, speaker: lost.speaker }]);
      this.persistPending();
    }
    if (this.checked && this.checked.segment_id === gone.id) this.checked.segment_id = seg.id;
    this.reindex();
    const blocks = new Set([seg.block, gone.block]);
    for (const block of blocks) this.rebuildBlock(block);
    this.afterReshape(index);
    return reply.joined_at;
  }

  afterReshape(index) {
    this.root.dataset.segments = String(this.segs.length);
    this.currentWord = null;
    this.current = -1;
    this.sel = Math.min(index, this.segs.length - 1);
    this.select(this.sel, { scroll: false });
    this.placeChecked();
    this.updateLowCount();
    this.tick(true);
  }

  setSpeaker(index, n) {
    if (!this.mayEdit || index < 0) return;
    let speaker = this.speakers[n];
    if (!speaker && n === this.speakers.length) {
      // One past the last is a new speaker (S<max+1>), as a hearing without diarization starts: the server
      // adds the label to the hearing's speakers with the first segment given it.
      const numbers = this.speakers.map((s) => /^S(\d+)$/.exec(s.label)).map((m) => (m ? Number(m[1]) : 0));
      speaker = { label: `S${Math.max(0, ...numbers) + 1}`, role: null, name: null, display: "", version: 0 };
      this.speakers.push(speaker);
      this.say(`新说话人 ${speaker.label} (a new speaker)`);
    }
    if (!speaker) return this.say(`没有第 ${n + 1} 位说话人 (no speaker ${n + 1})`);
    const seg = this.segs[index];
    this.closeTyping();
    this.queue(seg, { speaker: speaker.label });
    const entry = this.rows.get(seg.id);
    if (entry) entry.speakerEl.textContent = this.speakerName(speaker.label);
  }

  markChecked(index) {
    if (!this.mayEdit || index < 0) return;
    const seg = this.segs[index];
    const clear = this.checked && this.checked.segment_id === seg.id;
    return this.serial(async () => {
      try {
        const mark = await this.request("PUT", `/hearings/${encodeURIComponent(this.hid)}/checked`, {
          segment_id: clear ? null : seg.id,
        });
        this.checked = mark || null;
        this.placeChecked();
        this.say(clear ? "已清除核对标记 (mark cleared)" : "已标记：核对至此 (checked up to here)");
      } catch (e) {
        this.say(`标记失败 (could not mark): ${e.message}`);
      }
    });
  }

  // --- find and replace -----------------------------------------------------------------------------------

  openFind() {
    this.findPanel.hidden = false;
    this.undoReplaceButton.disabled = !this.lastReplace || !this.mayEdit;
    this.applyButton.disabled = !this.preview || !this.mayEdit;
    for (const control of [this.replaceText, this.applyButton, this.undoReplaceButton]) control.hidden = !this.mayEdit;
    this.findText.focus();
    this.findText.select();
  }

  closeFind() {
    this.findPanel.hidden = true;
    this.toNav();
  }

  async previewReplace() {
    const find = this.findText.value;
    if (!find) {
      this.findNote.textContent = "请输入要查找的文字 (type what to find)";
      return;
    }
    this.serial(async () => {
      try {
        await this.settle();
        const reply = this.mayEdit
          ? await this.request("POST", `/hearings/${encodeURIComponent(this.hid)}/replace`, {
              find,
              replace: this.replaceText.value,
              match_case: this.matchCase.checked,
              apply: false,
            })
          : this.findHere(find, this.matchCase.checked);
        this.preview = { find, replace: this.replaceText.value, matchCase: this.matchCase.checked, matches: reply.matches || [] };
        this.findList.replaceChildren();
        for (const match of this.preview.matches.slice(0, 200)) {
          const item = testid(el("li", "wb-find-item"), "wbDeskFindMatch");
          item.dataset.segmentId = String(match.segment_id);
          const seg = this.byId.get(match.segment_id);
          item.append(el("span", "wb-time", seg ? clock(seg.start) : ""));
          if (this.mayEdit) {
            item.append(el("span", "wb-find-before", match.before), el("span", "wb-find-arrow", " → "), el("span", "wb-find-after", match.after));
          } else item.append(el("span", "", match.before));
          item.onclick = () => seg && this.select(seg.index, { scroll: "start" });
          this.findList.append(item);
        }
        const total = reply.total ?? this.preview.matches.length;
        this.findNote.textContent = `${total} 处 (matches) · ${this.preview.matches.length} 段 (segments)`;
        this.findNote.dataset.total = String(total);
        this.applyButton.disabled = !this.mayEdit || !this.preview.matches.length;
      } catch (e) {
        this.findNote.textContent = `预览失败 (preview failed): ${e.message}`;
      }
    });
  }

  // Read-only: finding needs no write right, so the desk looks through the texts it has.
  findHere(find, matchCase) {
    const needle = matchCase ? find : find.toLowerCase();
    const matches = [];
    let total = 0;
    for (const seg of this.segs) {
      const hay = matchCase ? seg.text : seg.text.toLowerCase();
      let count = 0;
      for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + needle.length)) count++;
      if (count) {
        total += count;
        if (matches.length < 1000) matches.push({ segment_id: seg.id, version: seg.version, before: seg.text, after: seg.text, count });
      }
    }
    return { matches, total };
  }

  async applyReplace() {
    const preview = this.preview;
    if (!preview || !this.mayEdit || !preview.matches.length) return;
    this.applyButton.disabled = true;
    this.serial(async () => {
      try {
        await this.settle();
        const reply = await this.request("POST", `/hearings/${encodeURIComponent(this.hid)}/replace`, {
          find: preview.find,
          replace: preview.replace,
          match_case: preview.matchCase,
          apply: true,
          segments: preview.matches.map((m) => ({ segment_id: m.segment_id, version: m.version })),
        });
        const items = [];
        let failed = 0;
        for (const result of reply.results || []) {
          const seg = this.byId.get(result.segment_id);
          if (!seg) continue;
          if (!result.ok) {
            failed++;
            continue;
          }
          items.push({ id: seg.id, before: { text: result.before, speaker: seg.speaker }, after: { text: result.text, speaker: result.speaker } });
          this.update(seg, { text: result.text, speaker: result.speaker, version: result.version, words: result.words, edited: true });
          this.refreshRow(seg);
        }
        this.updateLowCount();
        if (items.length) {
          const step = { kind: "edit", items, replace: true };
          this.undoStack.push(step);
          this.redoStack = [];
          this.lastReplace = step;
        }
        this.preview = null;
        this.undoReplaceButton.disabled = !items.length;
        this.findText.focus(); // the clicked button is disabled now: keep the keys in the panel
        this.findNote.textContent = `已替换 ${items.length} 段 (replaced)` + (failed ? `；${failed} 段已被他人修改，未替换 (changed by someone else)` : "");
      } catch (e) {
        this.findNote.textContent = `替换失败 (replace failed): ${e.message}`;
        this.applyButton.disabled = false;
      }
    });
  }

  undoReplace() {
    const step = this.lastReplace;
    if (!step) return;
    this.undoReplaceButton.disabled = true;
    this.findText.focus();
    this.serial(async () => {
      await this.settle();
      const ok = await this.apply(step, "undo");
      this.undoStack = this.undoStack.filter((s) => s !== step);
      if (ok) this.redoStack.push(step);
      this.lastReplace = null;
      this.findNote.textContent = ok ? "已撤销替换 (replacement undone)" : "部分未能撤销 (some could not be undone)";
    });
  }

  // The desk is gone from the page: everything it holds outside itself (window listeners, timers, the animation
  // frame, both audio elements' downloads) is given back, so that nothing keeps it in memory.
  stop() {
    if (this.stopped) return;
    this.stopped = true; // from here on no timer is set (a save still in flight just ends)
    for (const [type, handler] of this.windowListeners) window.removeEventListener(type, handler);
    live.window_listeners -= this.windowListeners.length;
    this.windowListeners = [];
    if (this.pending.size) this.flush(); // what is typed goes now (it is in localStorage too)
    for (const name of ["flushTimer", "retryTimer", "msgTimer"]) this.cancel(name);
    if (this.positionTimer) {
      clearInterval(this.positionTimer);
      this.positionTimer = null;
      live.timers -= 1;
    }
    this.savePosition();
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
    for (const audio of [this.audio, this.spare]) {
      audio.pause();
      audio.removeAttribute("src");
      audio.load(); // drops the buffered window and closes its request
    }
    this.observer.disconnect();
    live.desks -= 1;
  }
}

export default function (component) {
  const { data, key, parentElement } = component;
  let desk = desks.get(key);
  if (!desk) {
    desk = new Desk(key);
    desks.set(key, desk);
  }
  desk.configure(data);
  desk.attach(parentElement);
  return () => {
    // Unmounted (another page, another hearing): stop once the element is really gone, not on a rerun race.
    setTimeout(() => {
      if (!desk.root.isConnected) {
        desk.stop();
        desks.delete(key);
      }
    }, 1000);
  };
}
