"""What an exported record says about itself: its manifest and, for a .docx, its dialogue lines.

`read_evidence(data, name)` never raises on a bad file; `Evidence.problems` says in words what could not be
read. A .docx: the manifest from the custom property "WorkbenchManifest" (docProps/custom.xml), or else from
the compact token in the core keywords; the dialogue paragraphs between the "WorkbenchDialogue" bookmarks,
read from one parse of word/document.xml (no python-docx: a 3-hour record reads in a few hundredths of a
second). A .pdf: the manifest and code from the XMP packet (PDF/A keeps it uncompressed), else from the
document information dictionary; a PDF's lines are not read (None).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import unescape

from lxml import etree

from workbench.record.manifest import COMPACT_PREFIX, DIALOGUE_BOOKMARK, MANIFEST_PROPERTY, Manifest

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
_CP = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
_P, _T, _TAB, _BR, _CR = (f"{{{_W}}}{n}" for n in ("p", "t", "tab", "br", "cr"))
_BM_START, _BM_END = f"{{{_W}}}bookmarkStart", f"{{{_W}}}bookmarkEnd"
_W_ID, _W_NAME = f"{{{_W}}}id", f"{{{_W}}}name"
# A document.xml or custom.xml larger than this is not a record this workbench wrote (a zip bomb, say).
_MAX_PART = 256 * 1024 * 1024
_CODE_AFTER_LABEL = re.compile(r"验证码[\s,;:，；]*([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})")
_TOKEN = re.compile(re.escape(COMPACT_PREFIX) + r"[A-Za-z0-9_\-]+")
_XMP = re.compile(rb"<x:xmpmeta\b.*?</x:xmpmeta>", re.S)
_XMP_KEYWORDS = re.compile(r"<pdf:Keywords>(.*?)</pdf:Keywords>", re.S)
_INFO_KEYWORDS = re.compile(rb"/Keywords\s*(<[0-9A-Fa-f\s]*>|\((?:\\.|[^\\)])*\))")


def _parser() -> etree.XMLParser:
    # No entities, no network, no DTDs: a file under verification is untrusted.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@dataclass(frozen=True)
class Evidence:
    kind: str  # "docx" | "pdf" | "unknown" (neither: problems say so)
    sha256: str  # of the file's bytes
    manifest: Manifest | None  # None: no manifest found (not a workbench export, or stripped)
    lines: list[str] | None  # docx: the dialogue paragraphs between the bookmarks; pdf: None
    problems: list[str] = field(default_factory=list)
    code: str | None = None  # the code the file shows (keywords / XMP), which should be manifest.code()


def _kind(data: bytes, name: str) -> str:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK"):
        return "docx"
    lower = name.lower()
    return "pdf" if lower.endswith(".pdf") else "docx" if lower.endswith(".docx") else "unknown"


def _manifest_from_token(text: str, problems: list[str]) -> Manifest | None:
    match = _TOKEN.search(text)
    if match is None:
        return None
    try:
        return Manifest.from_compact(match.group(0))
    except ValueError as e:
        problems.append(f"关键词中的笔录清单无法读取 (the manifest in the keywords is damaged): {e}")
        return None


def _paragraph_text(p: etree._Element) -> str:
    """The text a paragraph shows: w:t as is, w:tab as a tab, w:br / w:cr as a line break (as `ooxml.run` writes)."""
    parts = []
    for el in p.iter(_T, _TAB, _BR, _CR):
        if el.tag == _T:
            parts.append(el.text or "")
        elif el.tag == _TAB:
            parts.append("\t")
        else:
            parts.append("\n")
    return "".join(parts)


def _nearest_paragraph(el: etree._Element) -> etree._Element | None:
    parent = el.getparent()
    while parent is not None and parent.tag != _P:
        parent = parent.getparent()
    return parent


def dialogue_lines(document_xml: bytes) -> tuple[list[str] | None, list[str]]:
    """The paragraphs from the one holding bookmark "WorkbenchDialogue"'s start to the one holding its end."""
    try:
        root = etree.fromstring(document_xml, _parser())
    except etree.XMLSyntaxError as e:
        return None, [f"word/document.xml 不是有效的 XML (not well-formed XML): {e}"]
    paragraphs: list[etree._Element] = []
    index: dict[etree._Element, int] = {}
    first = last = None
    bookmark_id = None
    for el in root.iter(_P, _BM_START, _BM_END):
        if el.tag == _P:
            index[el] = len(paragraphs)
            paragraphs.append(el)
        elif el.tag == _BM_START and el.get(_W_NAME) == DIALOGUE_BOOKMARK and bookmark_id is None:
            bookmark_id = el.get(_W_ID)
            holder = _nearest_paragraph(el)
            first = index[holder] if holder is not None else len(paragraphs)  # between paragraphs: the next one
        elif el.tag == _BM_END and bookmark_id is not None and el.get(_W_ID) == bookmark_id and last is None:
            holder = _nearest_paragraph(el)
            last = index[holder] if holder is not None else len(paragraphs) - 1
    if first is None:
        return None, [f"文件中没有对话书签 {DIALOGUE_BOOKMARK} (the dialogue bookmark is missing)"]
    if last is None:
        return None, [f"对话书签 {DIALOGUE_BOOKMARK} 没有结束标记 (the dialogue bookmark has no end)"]
    return [_paragraph_text(p) for p in paragraphs[first : last + 1]], []


def _footer_text(blob: bytes) -> str:
    try:
        root = etree.fromstring(blob, _parser())
    except etree.XMLSyntaxError:
        return ""
    return "\n".join(_paragraph_text(p) for p in root.iter(_P))


def _custom_manifest(blob: bytes, problems: list[str]) -> Manifest | None:
    try:
        root = etree.fromstring(blob, _parser())
    except etree.XMLSyntaxError as e:
        problems.append(f"docProps/custom.xml 不是有效的 XML (not well-formed XML): {e}")
        return None
    for prop in root.iter(f"{{{_CUSTOM}}}property"):
        if prop.get("name") == MANIFEST_PROPERTY:
            text = "".join(prop.itertext())
            try:
                return Manifest.from_dict(json.loads(text))
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                cut = "，可能被 Word 另存时截断为 255 字符 (cut at 255 by a re-save?)" if len(text) == 255 else ""
                problems.append(f"自定义属性 {MANIFEST_PROPERTY} 无法读取{cut} (the manifest property is damaged): {e}")
                return None
    return None


def _read_part(z: zipfile.ZipFile, name: str, problems: list[str]) -> bytes | None:
    try:
        info = z.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_PART:
        problems.append(f"{name} 过大 ({info.file_size} bytes): 不是本系统导出的笔录 (too large for a record)")
        return None
    try:
        return z.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as e:  # damaged or encrypted member
        problems.append(f"{name} 无法解压 (cannot be read from the zip): {e}")
        return None


_TEXT_PARTS = re.compile(r"word/(document|header\d*|footer\d*)\.xml")


def text_parts(data: bytes) -> dict[str, list[str]]:
    """Every paragraph's text of a .docx, by part: word/document.xml, each header and footer. What a reader sees
    in the file, to name the paragraph that differs outside the dialogue; {} for a file that cannot be read."""
    out: dict[str, list[str]] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in sorted(n for n in z.namelist() if _TEXT_PARTS.fullmatch(n)):
                blob = _read_part(z, name, [])
                if blob is None:
                    continue
                try:
                    root = etree.fromstring(blob, _parser())
                except etree.XMLSyntaxError:
                    continue
                out[name] = [_paragraph_text(p) for p in root.iter(_P)]
    except (zipfile.BadZipFile, OSError, ValueError):
        return {}
    return out


def _read_docx(data: bytes) -> tuple[Manifest | None, list[str] | None, str | None, list[str]]:
    problems: list[str] = []
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return None, None, None, [f"不是 .docx 文件 (not a .docx: not a zip archive): {e}"]
    with z:
        document = _read_part(z, "word/document.xml", problems)
        if document is None:
            if not problems:
                problems.append("zip 中没有 word/document.xml：不是 Word 文档 (a zip, but not a Word document)")
            return None, None, None, problems
        lines, line_problems = dialogue_lines(document)
        problems += line_problems
        custom = _read_part(z, "docProps/custom.xml", problems)
        manifest = _custom_manifest(custom, problems) if custom is not None else None
        core = _read_part(z, "docProps/core.xml", problems)
        footers = [_read_part(z, n, problems) or b"" for n in z.namelist() if re.fullmatch(r"word/footer\d*\.xml", n)]
    keywords = ""
    if core is not None:
        try:
            keywords = "".join(etree.fromstring(core, _parser()).find(f"{{{_CP}}}keywords").itertext())
        except (etree.XMLSyntaxError, AttributeError):
            keywords = ""
    found = _CODE_AFTER_LABEL.search(keywords)
    code = found.group(1) if found else None
    # What a reader sees on the page: every footer's code must be the one in the properties.
    shown = {m.group(1) for blob in footers for m in _CODE_AFTER_LABEL.finditer(_footer_text(blob))}
    if code is None and len(shown) == 1:
        code = next(iter(shown))
    if len(shown) > 1 or (code is not None and shown and shown != {code}):
        problems.append(
            f"页脚的验证码 {'、'.join(sorted(shown))} 与文件属性不一致 (the footer code differs from the properties)"
        )
    from_keywords = _manifest_from_token(keywords, problems)
    if manifest is None and from_keywords is not None:
        problems.append(
            f"自定义属性 {MANIFEST_PROPERTY} 缺失或无法读取，清单取自关键词 "
            "(the manifest property is missing or damaged; read from the keywords)"
        )
        manifest = from_keywords
    elif manifest is not None and from_keywords is not None and from_keywords != manifest:
        problems.append("自定义属性与关键词中的清单不一致 (the manifest property and the keywords disagree)")
    if manifest is None:
        problems.append(
            f"文件中没有笔录清单 {MANIFEST_PROPERTY} (no manifest: not a workbench export, or it was removed)"
        )
    return manifest, lines, code, problems


def _pdf_string(raw: bytes) -> str:
    """A PDF string object's text: <FEFF...> hex (UTF-16) or a (literal) with backslash escapes."""
    if raw.startswith(b"<"):
        hexdigits = re.sub(rb"\s", b"", raw[1:-1])
        blob = bytes.fromhex(hexdigits.decode("ascii") + ("0" if len(hexdigits) % 2 else ""))
        return blob[2:].decode("utf-16-be", "replace") if blob.startswith(b"\xfe\xff") else blob.decode("latin-1")
    body = re.sub(rb"\\([nrtbf()\\])", lambda m: m.group(1), raw[1:-1])
    return body.decode("utf-16-be", "replace")[1:] if body.startswith(b"\xfe\xff") else body.decode("latin-1")


def _read_pdf(data: bytes) -> tuple[Manifest | None, str | None, list[str]]:
    problems: list[str] = []
    keywords = []
    for packet in _XMP.findall(data):
        found = _XMP_KEYWORDS.search(packet.decode("utf-8", "replace"))
        if found:
            keywords.append(unescape(found.group(1)))
    if not keywords:
        # Not PDF/A, or a tool rewrote the metadata: the information dictionary, where it is not compressed.
        keywords = [_pdf_string(m.group(1)) for m in _INFO_KEYWORDS.finditer(data)]
    text = "\n".join(keywords)
    found = _CODE_AFTER_LABEL.search(text)
    manifest = _manifest_from_token(text, problems)
    if not keywords:
        problems.append("PDF 中没有可读的元数据关键词 (no readable XMP or keywords in the PDF)")
    if manifest is None:
        problems.append("PDF 元数据中没有笔录清单 (no manifest in the PDF's metadata: not a workbench export?)")
    return manifest, found.group(1) if found else None, problems


def read_evidence(data: bytes, name: str = "") -> Evidence:
    """What the file says about itself; never raises on a bad file: `problems` says what could not be read."""
    digest = hashlib.sha256(data).hexdigest()
    kind = _kind(data, name)
    if kind == "pdf":
        manifest, code, problems = _read_pdf(data)
        lines = None
    elif kind == "docx":
        manifest, lines, code, problems = _read_docx(data)
    else:
        return Evidence(
            "unknown", digest, None, None, [f"{name or '文件'}: 既不是 .docx 也不是 .pdf (neither a .docx nor a .pdf)"]
        )
    if manifest is not None and code is not None and code != manifest.code():
        problems.append(f"文件显示的验证码 {code} 与清单不符 (the code shown does not match the manifest)")
    return Evidence(kind, digest, manifest, lines, problems, code)
