// The upload page's file picker: each chosen file goes to /api/v1/uploads in 8 MiB PATCHes (never through
// Streamlit's uploader, which holds a file in the server's memory). Resumes after a dropped connection (HEAD,
// then on from the offset the server has) and after a page reload (the id is remembered per file in
// localStorage: choose the same file again). When no file is in flight it tells the page the finished
// upload ids (state "uploads"). File names are shown with textContent only: they are the user's text.
//
// Streamlit calls the default export again whenever the mount's data or the page's run changes; one
// Uploader per component key lives in this module, so uploads in flight survive those calls.

const API = "/api/v1/uploads";
const HEADERS = { "X-Workbench-Client": "browser" };
const PARALLEL = 3;
const RETRY_MAX_S = 30;
const RETRIES = 40; // consecutive failures of one file before it waits for the user ("retry")
const FATAL = new Set([400, 401, 403, 404, 410, 413, 415, 422, 507]);

const uploaders = new Map();

function mb(bytes) {
  return (bytes / (1 << 20)).toFixed(bytes < 10 << 20 ? 1 : 0);
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function detail(response) {
  try {
    const body = await response.json();
    return body.detail || body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

class Failure extends Error {
  constructor(message, fatal) {
    super(message);
    this.fatal = fatal;
  }
}

class Item {
  constructor(uploader, file) {
    this.uploader = uploader;
    this.file = file;
    this.id = null;
    this.offset = 0;
    this.state = "waiting"; // waiting | uploading | retrying | done | error | removed
    this.failures = 0;
    this.controller = null;
    this.started = 0;
    this.sentAtStart = 0;
    this.row = el("li", "wb-up-item");
    this.row.setAttribute("data-testid", "wbUploadItem");
    const head = el("div", "wb-up-head");
    this.nameEl = el("span", "wb-up-name", file.name);
    this.statusEl = el("span", "wb-up-status");
    this.statusEl.setAttribute("data-testid", "wbUploadStatus");
    this.retryButton = el("button", "wb-up-retry", "重试");
    this.retryButton.type = "button";
    this.retryButton.hidden = true;
    this.retryButton.onclick = () => this.retry();
    const remove = el("button", "wb-up-remove", "×");
    remove.type = "button";
    remove.title = "移除 (remove)";
    remove.onclick = () => this.remove();
    head.append(this.nameEl, this.statusEl, this.retryButton, remove);
    this.bar = el("progress", "wb-up-bar");
    this.bar.max = Math.max(file.size, 1);
    this.bar.value = 0;
    this.row.append(head, this.bar);
    this.show();
  }

  get resumeKey() {
    const f = this.file;
    return `wb-upload:${f.name}:${f.size}:${f.lastModified}`;
  }

  get active() {
    return this.state === "waiting" || this.state === "uploading" || this.state === "retrying";
  }

  show(message) {
    this.bar.value = this.offset;
    const size = this.file.size;
    let text;
    if (this.state === "done") text = `${mb(size)} MB · 已上传 (uploaded)`;
    else if (this.state === "error") text = message || "失败 (failed)";
    else if (this.state === "waiting") text = `${mb(size)} MB · 等待 (waiting)`;
    else {
      const seconds = (performance.now() - this.started) / 1000;
      const rate = seconds > 0.5 ? ` · ${mb((this.offset - this.sentAtStart) / seconds)} MB/s` : "";
      const pct = size ? Math.floor((100 * this.offset) / size) : 100;
      text = `${mb(this.offset)} / ${mb(size)} MB · ${pct}%${rate}`;
      if (this.state === "retrying") text += ` · ${message || "连接中断，正在重连 (reconnecting)"}`;
    }
    this.statusEl.textContent = text;
    this.row.dataset.state = this.state;
    this.retryButton.hidden = this.state !== "error" || !this.id;
  }

  async request(url, init) {
    this.controller = new AbortController();
    try {
      return await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        ...init,
        headers: { ...HEADERS, ...(init.headers || {}) },
        signal: this.controller.signal,
      });
    } finally {
      this.controller = null;
    }
  }

  // The offset the server has for our id; null when it no longer knows the id.
  async serverOffset() {
    const response = await this.request(`${API}/${encodeURIComponent(this.id)}`, { method: "HEAD" });
    if (response.status === 404) return null;
    if (!response.ok) throw new Failure(`HTTP ${response.status}`, FATAL.has(response.status));
    return Number(response.headers.get("Upload-Offset"));
  }

  async create() {
    const response = await this.request(API, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: this.file.name, size: this.file.size }),
    });
    if (!response.ok) throw new Failure(await detail(response), FATAL.has(response.status));
    const body = await response.json();
    this.id = body.id;
    this.offset = body.offset;
    try {
      localStorage.setItem(this.resumeKey, this.id);
    } catch {
      // private mode: resuming after a reload is not offered, the rest works
    }
  }

  async begin() {
    let known = null;
    try {
      known = localStorage.getItem(this.resumeKey);
    } catch {
      known = null;
    }
    if (known && !this.id) {
      this.id = known;
      const offset = await this.serverOffset();
      if (offset === null) this.id = null;
      else this.offset = offset;
    }
    if (!this.id) await this.create();
  }

  async send() {
    const chunk = this.uploader.chunkBytes;
    while (this.offset < this.file.size && this.state !== "removed") {
      const end = Math.min(this.offset + chunk, this.file.size);
      const response = await this.request(`${API}/${encodeURIComponent(this.id)}`, {
        method: "PATCH",
        headers: { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(this.offset) },
        body: this.file.slice(this.offset, end),
      });
      if (response.ok) {
        this.offset = (await response.json()).offset;
      } else if (response.status === 409) {
        const body = await response.json().catch(() => ({}));
        if (typeof body.offset !== "number") throw new Failure(body.detail || "HTTP 409", false);
        this.offset = body.offset; // the server has more (or less) than we thought: go on from there
        if (body.error === "busy") throw new Failure(body.detail, false);
      } else {
        throw new Failure(await detail(response), FATAL.has(response.status));
      }
      this.failures = 0;
      this.state = "uploading";
      this.show();
    }
  }

  async run() {
    this.state = "uploading";
    this.started = performance.now();
    this.sentAtStart = this.offset;
    this.show();
    for (;;) {
      try {
        if (!this.id || this.failures > 0) await this.begin();
        if (this.failures > 0 && this.id) {
          const offset = await this.serverOffset();
          if (offset === null) throw new Failure("上传已过期，请重新选择文件 (the upload expired; choose the file again)", true);
          this.offset = offset;
        }
        await this.send();
        if (this.state === "removed") return;
        this.state = "done";
        try {
          localStorage.removeItem(this.resumeKey);
        } catch {
          // nothing stored
        }
        this.show();
        return;
      } catch (e) {
        if (this.state === "removed") return;
        const fatal = e instanceof Failure && e.fatal;
        this.failures += 1;
        if (fatal || this.failures > RETRIES) {
          this.state = "error";
          this.show(e.message);
          return;
        }
        this.state = "retrying";
        this.show(e instanceof Failure ? e.message : undefined);
        const wait = Math.min(RETRY_MAX_S, 2 ** Math.min(this.failures - 1, 5));
        await this.uploader.pause(wait * 1000);
      }
    }
  }

  retry() {
    if (this.state !== "error") return;
    this.state = "waiting";
    this.failures = 1; // ask the server where it stands first
    this.show();
    this.uploader.pump();
  }

  remove() {
    const had = this.id;
    const wasDone = this.state === "done";
    this.state = "removed";
    if (this.controller) this.controller.abort();
    this.row.remove();
    this.uploader.items = this.uploader.items.filter((i) => i !== this);
    try {
      localStorage.removeItem(this.resumeKey);
    } catch {
      // nothing stored
    }
    if (had) fetch(`${API}/${encodeURIComponent(had)}`, { method: "DELETE", headers: HEADERS, credentials: "same-origin" });
    if (wasDone) this.uploader.report(true);
    this.uploader.pump();
  }
}

class Uploader {
  constructor(data, setStateValue) {
    this.configure(data, setStateValue);
    this.items = [];
    this.reportedText = null;
    this.wakers = new Set();
    this.root = el("div", "wb-up");
    this.root.setAttribute("data-testid", "wbUploader");
    const pick = el("label", "wb-up-pick");
    this.input = el("input");
    this.input.type = "file";
    this.input.multiple = true;
    this.input.setAttribute("data-testid", "wbUploadInput");
    this.input.onchange = () => {
      this.add([...this.input.files]);
      this.input.value = "";
    };
    this.label = el("span", "wb-up-label");
    pick.append(this.label, this.input);
    this.note = el("div", "wb-up-note");
    this.list = el("ul", "wb-up-list");
    this.root.append(pick, this.note, this.list);
    this.drawConfig();
    window.addEventListener("online", () => this.wake());
  }

  configure(data, setStateValue) {
    this.setStateValue = setStateValue;
    this.types = (data && data.types) || [];
    this.maxBytes = (data && data.max_bytes) || Infinity;
    this.chunkBytes = (data && data.chunk_bytes) || 8 << 20;
    this.labelText = (data && data.label) || "选择录音文件";
  }

  drawConfig() {
    this.input.accept = this.types.map((t) => `.${t}`).join(",");
    this.label.textContent = this.labelText;
  }

  attach(parent) {
    if (this.root.parentNode !== parent) parent.appendChild(this.root);
  }

  add(files) {
    this.note.textContent = "";
    const refused = [];
    for (const file of files) {
      const suffix = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
      if (!this.types.includes(suffix)) refused.push(`${file.name}: 不是支持的录音格式 (not a recording)`);
      else if (file.size > this.maxBytes) refused.push(`${file.name}: 超过上限 ${mb(this.maxBytes)} MB (too large)`);
      else if (file.size === 0) refused.push(`${file.name}: 空文件 (empty)`);
      else if (this.items.some((i) => i.resumeKey === `wb-upload:${file.name}:${file.size}:${file.lastModified}`))
        refused.push(`${file.name}: 已在列表中 (already chosen)`);
      else {
        const item = new Item(this, file);
        this.items.push(item);
        this.list.appendChild(item.row);
      }
    }
    this.note.textContent = refused.join("；");
    this.pump();
  }

  // Starts waiting files while fewer than PARALLEL are in flight; reports when none is.
  pump() {
    const running = this.items.filter((i) => i.state === "uploading" || i.state === "retrying").length;
    const waiting = this.items.filter((i) => i.state === "waiting");
    for (const item of waiting.slice(0, Math.max(0, PARALLEL - running))) {
      item.run().then(() => this.pump());
    }
    this.report(false);
  }

  report(force) {
    if (this.items.some((i) => i.active)) {
      this.send({ uploads: [], busy: true }, false);
      return;
    }
    const done = this.items.filter((i) => i.state === "done").map((i) => ({ id: i.id, name: i.file.name, size: i.file.size }));
    this.send({ uploads: done, busy: false }, force);
  }

  send(value, force) {
    const text = JSON.stringify(value);
    if (!force && text === this.reportedText) return;
    this.reportedText = text;
    this.setStateValue("uploads", value);
  }

  // Waits `ms`, or less when the browser comes back online.
  pause(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  wake() {
    for (const waker of [...this.wakers]) waker();
  }

  stop() {
    for (const item of this.items) {
      if (item.active) {
        item.state = "removed";
        if (item.controller) item.controller.abort();
      }
    }
    this.wake();
  }
}

export default function (component) {
  const { data, key, parentElement, setStateValue } = component;
  let uploader = uploaders.get(key);
  if (uploader) uploader.configure(data, setStateValue);
  else {
    uploader = new Uploader(data, setStateValue);
    uploaders.set(key, uploader);
  }
  uploader.drawConfig();
  uploader.attach(parentElement);
  return () => {
    // Called when Streamlit unmounts the element (another page, a fresh key after a submit); a call while
    // the element stays (a rerun racing the mount) leaves it connected, so the uploads go on.
    setTimeout(() => {
      if (!uploader.root.isConnected) {
        uploader.stop();
        uploaders.delete(key);
      }
    }, 1000);
  };
}
