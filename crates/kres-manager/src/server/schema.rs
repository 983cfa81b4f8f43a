//! `GET /schema` (the configuration's JSON Schema, indent 4) and `GET /schema/ui`: a self-contained HTML page
//! (inline CSS and JS, the schema embedded, nothing fetched from anywhere) that renders the schema as a browsable
//! tree. The reference redirects to an external web site instead.

use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::http::content_type;

/// The schema text, built once.
fn schema_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| String::from_utf8(super::pretty_json(&kres_datamodel::json_schema())).unwrap_or_default())
}

pub(super) async fn schema() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type::JSON), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        schema_text(),
    )
        .into_response()
}

pub(super) async fn ui() -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    let page = PAGE.get_or_init(|| render_page(schema_text()));
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type::HTML)], page.as_str()).into_response()
}

/// The page with `schema` embedded as a JSON script block (`<` escaped so the text can never close the element).
pub(crate) fn render_page(schema: &str) -> String {
    let embedded = schema.replace('<', "\\u003c");
    PAGE_TEMPLATE.replace("@SCHEMA@", &embedded)
}

const PAGE_TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Knot Resolver configuration schema</title>
<style>
  :root { --fg: #1d232a; --muted: #5b6673; --line: #d9dee4; --accent: #00695c; --bg: #fbfcfd; --tag: #eef2f5; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { position: sticky; top: 0; z-index: 1; background: #fff; border-bottom: 1px solid var(--line); padding: 10px 18px; display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
  header h1 { font-size: 17px; margin: 0 14px 0 0; }
  header input { flex: 1 1 260px; padding: 6px 9px; font: inherit; border: 1px solid var(--line); border-radius: 5px; }
  header button { padding: 6px 10px; font: inherit; border: 1px solid var(--line); border-radius: 5px; background: var(--tag); cursor: pointer; }
  main { padding: 12px 18px 40px; max-width: 1100px; }
  #intro { color: var(--muted); margin: 4px 0 14px; }
  details { margin: 2px 0 2px 0; border-left: 2px solid var(--line); padding-left: 10px; }
  details > summary { cursor: pointer; list-style: none; padding: 3px 0; }
  details > summary::-webkit-details-marker { display: none; }
  details > summary::before { content: "\25B8"; display: inline-block; width: 1em; color: var(--muted); }
  details[open] > summary::before { content: "\25BE"; }
  .leaf > summary::before { content: "\2022"; }
  .name { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-weight: 600; color: var(--accent); }
  .type { font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; background: var(--tag); border-radius: 4px; padding: 1px 6px; margin-left: 8px; }
  .req { font-size: 11px; color: #b71c1c; margin-left: 6px; }
  .short { color: var(--muted); margin-left: 10px; }
  .body { margin: 2px 0 8px 1em; }
  .desc { margin: 2px 0 4px; white-space: pre-wrap; }
  .facts { font-size: 13.5px; color: var(--muted); }
  .facts code, .desc code { font-family: ui-monospace, Menlo, monospace; background: var(--tag); padding: 0 4px; border-radius: 3px; color: var(--fg); }
  .variant { font-size: 13px; color: var(--muted); margin: 6px 0 0; }
  .path { font-family: ui-monospace, Menlo, monospace; font-size: 12px; color: var(--muted); }
  .hidden { display: none; }
  mark { background: #fff3a0; }
</style>
</head>
<body>
<header>
  <h1>Knot Resolver configuration</h1>
  <input id="filter" type="search" placeholder="Filter by option name or description…" autocomplete="off">
  <button id="expand" type="button">Expand all</button>
  <button id="collapse" type="button">Collapse all</button>
  <a href="/schema">raw JSON Schema</a>
</header>
<main>
  <p id="intro"></p>
  <div id="tree"></div>
</main>
<script id="schema" type="application/json">@SCHEMA@</script>
<script>
"use strict";
(function () {
  var root = JSON.parse(document.getElementById("schema").textContent);
  var defs = root.$defs || root.definitions || {};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function resolve(s) {
    var seen = 0;
    while (s && s.$ref && seen++ < 20) {
      var m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(s.$ref);
      s = m ? defs[decodeURIComponent(m[1])] : null;
    }
    return s || {};
  }
  function variants(s) { return s.anyOf || s.oneOf || null; }
  function typeName(s) {
    s = resolve(s);
    var v = variants(s);
    if (v) return v.map(typeName).join(" | ");
    if (s.enum) return s.enum.map(function (x) { return JSON.stringify(x); }).join(" | ");
    if (s.const !== undefined) return JSON.stringify(s.const);
    var t = s.type;
    if (Array.isArray(t)) t = t.join(" | ");
    if (t === "array") return "list of " + typeName(s.items || {});
    if (t === "object" && s.additionalProperties && typeof s.additionalProperties === "object" && !s.properties)
      return "map of " + typeName(s.additionalProperties);
    return t || (s.properties ? "object" : "any");
  }
  function firstLine(text) {
    if (!text) return "";
    var line = String(text).split("\n")[0];
    return line.length > 110 ? line.slice(0, 107) + "…" : line;
  }
  function fact(parent, label, value) {
    var p = el("div", "facts");
    p.appendChild(document.createTextNode(label + ": "));
    p.appendChild(el("code", null, value));
    parent.appendChild(p);
  }
  function children(s) {
    s = resolve(s);
    var out = [];
    if (s.properties) {
      var req = s.required || [];
      Object.keys(s.properties).forEach(function (k) {
        out.push({ name: k, schema: s.properties[k], required: req.indexOf(k) >= 0 });
      });
    }
    if (s.type === "array" || s.items) {
      var it = resolve(s.items || {});
      if (it.properties || variants(it) || it.items) out.push({ name: "[item]", schema: s.items, item: true });
    }
    if (s.additionalProperties && typeof s.additionalProperties === "object") {
      var ap = resolve(s.additionalProperties);
      if (ap.properties || variants(ap) || ap.items) out.push({ name: "{key}", schema: s.additionalProperties, item: true });
    }
    return out;
  }
  function node(entry, path, depth) {
    var s = resolve(entry.schema);
    var d = el("details");
    var kids = children(s);
    var v = variants(s);
    if (!kids.length && !(v && v.some(function (x) { return children(x).length; }))) d.className = "leaf";
    var sum = el("summary");
    sum.appendChild(el("span", "name", entry.name));
    sum.appendChild(el("span", "type", typeName(s)));
    if (entry.required) sum.appendChild(el("span", "req", "required"));
    var short = firstLine(s.description || s.title);
    if (short) sum.appendChild(el("span", "short", short));
    d.appendChild(sum);
    d.dataset.search = (entry.name + " " + path + " " + (s.description || "") + " " + (s.title || "")).toLowerCase();
    var b = el("div", "body");
    b.appendChild(el("div", "path", path || "/"));
    if (s.description) b.appendChild(el("div", "desc", s.description));
    if (s.default !== undefined) fact(b, "default", JSON.stringify(s.default));
    if (s.enum) fact(b, "one of", s.enum.map(function (x) { return JSON.stringify(x); }).join(", "));
    if (s.pattern) fact(b, "pattern", s.pattern);
    ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems"].forEach(function (k) {
      if (s[k] !== undefined) fact(b, k, String(s[k]));
    });
    if (s.examples) fact(b, "examples", s.examples.map(function (x) { return JSON.stringify(x); }).join(", "));
    if (v) {
      v.forEach(function (alt, i) {
        var a = resolve(alt);
        b.appendChild(el("div", "variant", "variant " + (i + 1) + ": " + typeName(a) + (a.description ? " — " + firstLine(a.description) : "")));
        children(a).forEach(function (c) { b.appendChild(node(c, path + "/" + (c.item ? "…" : c.name), depth + 1)); });
      });
    }
    kids.forEach(function (c) { b.appendChild(node(c, path + "/" + (c.item ? "…" : c.name), depth + 1)); });
    d.appendChild(b);
    if (depth < 1) d.open = true;
    return d;
  }

  document.getElementById("intro").textContent =
    (root.title || "Configuration schema") + (root.$id ? " — " + root.$id : "") +
    ". Every top-level section of the YAML configuration is listed below; click a name to see its options.";
  var tree = document.getElementById("tree");
  children(root).forEach(function (c) { tree.appendChild(node(c, "/" + c.name, 0)); });

  var all = function () { return Array.prototype.slice.call(tree.querySelectorAll("details")); };
  document.getElementById("expand").onclick = function () { all().forEach(function (d) { d.open = true; }); };
  document.getElementById("collapse").onclick = function () { all().forEach(function (d) { d.open = false; }); };
  document.getElementById("filter").oninput = function (ev) {
    var q = ev.target.value.trim().toLowerCase();
    all().forEach(function (d) { d.classList.remove("hidden"); });
    if (!q) return;
    all().reverse().forEach(function (d) {
      var self = d.dataset.search.indexOf(q) >= 0;
      var kid = d.querySelector("details:not(.hidden)") !== null;
      if (self || kid) { d.open = kid || d.open; } else { d.classList.add("hidden"); }
    });
  };
})();
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained_and_embeds_the_schema() {
        let page = render_page(schema_text());
        assert!(page.contains("\"workers\""), "the schema is embedded");
        assert!(!page.contains("@SCHEMA@"));
        // Nothing loaded from elsewhere: no external scripts, styles, fonts or redirects.
        for needle in ["<script src", "<link", "@import", "json-schema.app", "location.href", "http://", "fetch("] {
            assert!(!page.contains(needle), "page contains {needle}");
        }
        // The only https:// text is the schema's own $id/$schema inside the embedded JSON.
        let outside: String = page.split("<script id=\"schema\"").next().unwrap().to_owned();
        assert!(!outside.contains("https://"));
        let embedded = render_page("{\"description\": \"</script><b>\"}");
        assert!(!embedded.contains("</script><b>"));
    }

    #[test]
    fn schema_is_indented_by_four() {
        assert!(schema_text().contains("\n    \"$schema\""), "{}", &schema_text()[..80]);
    }
}
