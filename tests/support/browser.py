"""Headless Debian Chromium driven by Playwright, and accessibility checks run in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"

# Runs in the page: every problem an automated check can find without axe-core.
_A11Y_CHECK = r"""
() => {
  const problems = [];
  const where = (el) => el.outerHTML.slice(0, 120);
  if (!document.documentElement.getAttribute("lang")) problems.push("<html> has no lang attribute");
  if (!document.title.trim()) problems.push("the page has no <title>");
  const h1 = document.querySelectorAll("h1");
  if (h1.length !== 1) problems.push(`the page has ${h1.length} <h1> elements, expected 1`);
  let last = 0;
  for (const h of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const level = Number(h.tagName[1]);
    if (last && level > last + 1) {
      problems.push(`heading level skips from h${last} to h${level}: ${where(h)}`);
    }
    last = level;
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push(`image without alt: ${where(img)}`);
  }
  for (const svg of document.querySelectorAll("svg")) {
    const hidden = svg.getAttribute("aria-hidden") === "true";
    const named = svg.getAttribute("aria-label") || svg.getAttribute("aria-labelledby") ||
      svg.querySelector("title");
    if (!hidden && !named) problems.push(`svg without a name: ${where(svg)}`);
  }
  const controls = document.querySelectorAll("input:not([type=hidden]), select, textarea");
  for (const el of controls) {
    const labelled = (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) ||
      el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!labelled) problems.push(`form control without a label: ${where(el)}`);
  }
  for (const el of document.querySelectorAll("a, button")) {
    const name = (el.textContent || "").trim() || el.getAttribute("aria-label") ||
      [...el.querySelectorAll("img[alt]")].map((i) => i.alt).join("");
    if (!name) problems.push(`link or button without text: ${where(el)}`);
  }
  const ids = new Map();
  for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) problems.push(`id "${id}" is used ${n} times`);
  if (!document.querySelector("main")) problems.push("the page has no <main> landmark");
  return problems;
}
"""

# Contrast of text against its nearest opaque background, WCAG 2 formula.
_CONTRAST_CHECK = r"""
() => {
  const parse = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const problems = [];
  const seen = new Set();
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden") continue;
    const fg = parse(style.color).slice(0, 3);
    const bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const key = `${style.color}|${bg}`;
    if (ratio < (large ? 3 : 4.5) && !seen.has(key)) {
      seen.add(key);
      const what = el.outerHTML.slice(0, 80);
      problems.push(`contrast ${ratio.toFixed(2)}:1 for ${style.color} on rgb(${bg}): ${what}`);
    }
  }
  return problems;
}
"""


def accessibility_problems(page: Page) -> list[str]:
    """Labels, alt texts, headings, lang, landmarks, link names, duplicate ids and contrast."""
    problems: list[Any] = page.evaluate(_A11Y_CHECK)
    problems += page.evaluate(_CONTRAST_CHECK)
    return [str(p) for p in problems]


def focus_is_visible(page: Page) -> bool:
    """Tab to the first link: it must get an outline or a box shadow."""
    page.keyboard.press("Tab")
    style: dict[str, str] = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return {outline: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow,"
        " tag: document.activeElement.tagName}; }"
    )
    outlined = style["outline"] not in ("none", "") and style["width"] not in ("0px", "")
    return style["tag"] == "A" and (outlined or style["shadow"] != "none")


def screenshot(page: Page, name: str) -> Path:
    """Keep a full-page screenshot under test-artifacts/portal/ for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, email: str, password: str) -> None:
    """Log in through the portal's real login form."""
    page.goto("/account/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/account/login" not in url)
