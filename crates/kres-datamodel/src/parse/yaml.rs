//! YAML 1.1 documents: saphyr-parser events built into a [`Node`] tree with positions, duplicate keys rejected,
//! merge keys (`<<`) applied, anchors and aliases copied within the [`Limits`].

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::ParseError;
use super::keys::KeyIndex;
use super::limits::{Budget, LIMIT_ERROR_PREFIX, Limits, Size};
use super::scalar::resolve_scalar;
use crate::node::{Mark, Node, Value};

/// Parses one YAML document with YAML 1.1 scalar typing.
pub fn parse_yaml(text: &str, source: &str) -> Result<Node, ParseError> {
    parse_yaml_with(text, source, Limits::DEFAULT)
}

/// [`parse_yaml`] with other limits.
pub fn parse_yaml_with(text: &str, source: &str, limits: Limits) -> Result<Node, ParseError> {
    let source: Arc<str> = Arc::from(source);
    let mut builder = YamlBuilder {
        source: source.clone(),
        anchors: HashMap::new(),
        stack: Vec::new(),
        docs: Vec::new(),
        budget: Budget::new(limits, text.len()),
    };
    let parser = Parser::new_from_str(text);
    for item in parser {
        let (event, span) = item.map_err(|e| ParseError {
            message: if e.info().contains("recursion limit exceeded") {
                // saphyr-parser's own nesting limit (it counts nested flow mappings twice).
                format!("{LIMIT_ERROR_PREFIX}: lists and mappings are nested too deeply ({})", e.info())
            } else {
                format!("invalid YAML: {}", e.info())
            },
            mark: Some(Mark { source: source.clone(), line: e.marker().line(), col: e.marker().col() + 1 }),
        })?;
        builder.event(event, span)?;
    }
    match builder.docs.len() {
        0 => Ok(Node::new(Value::Null)),
        1 => Ok(builder.docs.pop().unwrap_or_else(|| Node::new(Value::Null))),
        _ => Err(ParseError { message: "expected a single YAML document, found several".into(), mark: None }),
    }
}

enum Frame {
    List {
        items: Vec<Node>,
        anchor: usize,
        mark: Mark,
    },
    Map {
        entries: Vec<(String, Node)>,
        /// The pending key, its position, and whether it was a plain (unquoted) scalar.
        key: Option<(String, Mark, bool)>,
        anchor: usize,
        mark: Mark,
        merges: Vec<Node>,
        index: KeyIndex,
    },
}

/// An anchored value, kept to be copied by its aliases, with its cost measured once.
struct Anchored {
    node: Node,
    size: Size,
}

struct YamlBuilder {
    source: Arc<str>,
    anchors: HashMap<usize, Anchored>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    budget: Budget,
}

impl YamlBuilder {
    fn mark(&self, span: &Span) -> Mark {
        Mark { source: self.source.clone(), line: span.start.line(), col: span.start.col() + 1 }
    }

    fn err(&self, message: String, mark: Mark) -> ParseError {
        ParseError { message, mark: Some(mark) }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), ParseError> {
        let mark = self.mark(&span);
        let at = |message: String| ParseError { message, mark: Some(mark.clone()) };
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.budget.string(text.len()).map_err(at)?;
                // A key of a mapping stays text (with its position for duplicate-key errors).
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some((text.into_owned(), mark, style == ScalarStyle::Plain && tag.is_none()));
                    return Ok(());
                }
                self.budget.value().map_err(at)?;
                let value = resolve_scalar(&text, style, tag.as_deref()).map_err(at)?;
                let node = Node::with_mark(value, Some(mark));
                self.finish(node, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.open(&mark)?;
                self.stack.push(Frame::List { items: Vec::new(), anchor, mark });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.open(&mark)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    anchor,
                    mark,
                    merges: Vec::new(),
                    index: KeyIndex::default(),
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::List { items, anchor, mark }) => {
                    self.finish(Node::with_mark(Value::List(items), Some(mark)), anchor)
                }
                _ => Err(self.err("unbalanced YAML sequence".into(), mark)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { entries, anchor, mark, merges, index, .. }) => {
                    let entries = self.merge(entries, merges, index, &mark)?;
                    self.finish(Node::with_mark(Value::Map(entries), Some(mark)), anchor)
                }
                _ => Err(self.err("unbalanced YAML mapping".into(), mark)),
            },
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(&id) else {
                    return Err(self.err("unknown YAML alias".into(), mark));
                };
                let size = anchored.size;
                // The copy must fit the depth limit where it lands, and the alias budget.
                self.budget.depth(self.stack.len() + size.depth).map_err(at)?;
                self.budget.copy(size).map_err(at)?;
                let node = self.anchors[&id].node.clone();
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    match node.value {
                        Value::Str(s) => {
                            *key = Some((s, mark, false));
                            return Ok(());
                        }
                        _ => return Err(self.err("a mapping key must be a scalar".into(), mark)),
                    }
                }
                self.push_value(Node { value: node.value, mark: Some(mark) })
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd | Event::Nothing => {
                Ok(())
            }
        }
    }

    /// A list or mapping starts: it must not be a key, and must fit the limits.
    fn open(&mut self, mark: &Mark) -> Result<(), ParseError> {
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(
                self.err("a mapping key must be a scalar (complex keys are not supported)".into(), mark.clone())
            );
        }
        let at = |message: String| ParseError { message, mark: Some(mark.clone()) };
        self.budget.depth(self.stack.len() + 1).map_err(at)?;
        self.budget.value().map_err(at)
    }

    /// YAML 1.1 merge keys (`<<: *anchor`): explicit keys win over merged ones.
    fn merge(
        &self,
        mut entries: Vec<(String, Node)>,
        merges: Vec<Node>,
        mut index: KeyIndex,
        mark: &Mark,
    ) -> Result<Vec<(String, Node)>, ParseError> {
        let needs_mapping =
            || self.err("a merge key ('<<') needs a mapping or a list of mappings".into(), mark.clone());
        for merged in merges {
            let sources = match merged.value {
                Value::Map(m) => vec![m],
                Value::List(items) => items
                    .into_iter()
                    .map(|i| match i.value {
                        Value::Map(m) => Ok(m),
                        _ => Err(needs_mapping()),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(needs_mapping()),
            };
            for m in sources {
                for (k, v) in m {
                    if index.find(&entries, &k).is_none() {
                        self.budget.key(entries.len()).map_err(|message| self.err(message, mark.clone()))?;
                        index.insert(&k, entries.len());
                        entries.push((k, v));
                    }
                }
            }
        }
        Ok(entries)
    }

    /// A value is complete: remember it if it is anchored (a copy, paid from the alias budget), then place it.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), ParseError> {
        if anchor != 0 {
            let size = Size::of(&node);
            self.budget.copy(size).map_err(|message| ParseError { message, mark: node.mark.clone() })?;
            self.anchors.insert(anchor, Anchored { node: node.clone(), size });
        }
        self.push_value(node)
    }

    fn push_value(&mut self, node: Node) -> Result<(), ParseError> {
        match self.stack.last_mut() {
            None => {
                self.docs.push(node);
                Ok(())
            }
            Some(Frame::List { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map { entries, key, merges, index, .. }) => {
                let Some((k, kmark, plain)) = key.take() else {
                    return Err(ParseError { message: "a mapping value without a key".into(), mark: node.mark });
                };
                if plain && k == "<<" {
                    merges.push(node);
                    return Ok(());
                }
                if let Some(i) = index.find(entries, &k) {
                    let first_line = entries[i]
                        .1
                        .mark
                        .as_ref()
                        .map(|m| format!(" (first defined on line {})", m.line))
                        .unwrap_or_default();
                    return Err(ParseError { message: format!("duplicate key '{k}'{first_line}"), mark: Some(kmark) });
                }
                self.budget.key(entries.len()).map_err(|message| ParseError { message, mark: Some(kmark) })?;
                index.insert(&k, entries.len());
                entries.push((k, node));
                Ok(())
            }
        }
    }
}
