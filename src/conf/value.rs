//! The parsed form of a configuration file: a tree of [`Value`]s, each with
//! the [`Pos`] it came from, and [`Map`]s that keep their keys in file order.
//!
//! This layer knows nothing about what the options mean; that is
//! [`crate::conf::ServerConfig`]'s job.

use std::collections::HashMap;

use super::error::Pos;

/// One value of a configuration file and where it is.
///
/// A value that came from a variable (`$NAME`) carries the position of the
/// reference; the values inside it (when it is a map or an array) keep the
/// positions of the variable's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What the value is.
    pub kind: ValueKind,
    /// Where it starts.
    pub pos: Pos,
}

/// The kinds of configuration values, as nats-server's `conf` package has
/// them (its ISO 8601 date-times are kept as strings here).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A quoted or bare string.
    String(String),
    /// An integer, after any size suffix (`1k` = 1000, `1kb` = 1024).
    Integer(i64),
    /// A number with a fraction (`0.5`) or an exponent.
    Float(f64),
    /// `true`/`false`, `yes`/`no`, `on`/`off`.
    Bool(bool),
    /// `[ ... ]`, of any mix of kinds.
    Array(Vec<Value>),
    /// `{ ... }`.
    Map(Map),
}

impl Value {
    /// A value of `kind` at `pos`.
    pub fn new(kind: ValueKind, pos: Pos) -> Self {
        Value { kind, pos }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            ValueKind::Integer(n) => Some(n),
            _ => None,
        }
    }

    /// The number as a float, if this is an integer or a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            ValueKind::Integer(n) => Some(n as f64),
            ValueKind::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            ValueKind::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            ValueKind::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            ValueKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The kind's name with an article, for messages: "a string", "a map".
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ValueKind::String(_) => "a string",
            ValueKind::Integer(_) => "an integer",
            ValueKind::Float(_) => "a float",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Array(_) => "an array",
            ValueKind::Map(_) => "a map",
        }
    }

    /// Move this value and everything inside it to `pos` (used for values
    /// that came from an environment variable, which have no file position).
    pub(crate) fn set_pos_deep(&mut self, pos: &Pos) {
        self.pos = pos.clone();
        match &mut self.kind {
            ValueKind::Array(items) => items.iter_mut().for_each(|v| v.set_pos_deep(pos)),
            ValueKind::Map(map) => {
                for entry in map.slots.iter_mut().flatten() {
                    entry.key_pos = pos.clone();
                    entry.value.set_pos_deep(pos);
                }
            }
            _ => {}
        }
    }
}

/// One `key: value` of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as written (lookups ignore ASCII case, variables do not).
    pub key: String,
    /// Where the key is.
    pub key_pos: Pos,
    /// The value.
    pub value: Value,
    /// True when a `$key` reference used this entry as a variable. Such
    /// entries are definitions, not options, so an unknown name is not an
    /// error (as nats-server's `IsUsedVariable`).
    pub used_as_variable: bool,
}

/// A map of keys to values in the order they were written.
///
/// A key given twice keeps the last value, moved to the later position, as
/// nats-server (whose Go map simply overwrites).
#[derive(Debug, Clone, Default)]
pub struct Map {
    /// Entries in file order; `None` where a later duplicate replaced one
    /// (so replacing costs no shifting, whatever the input).
    slots: Vec<Option<Entry>>,
    /// Exact key to its slot.
    index: HashMap<String, usize>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map::default()
    }

    /// Iterate over the entries in file order.
    pub fn iter(&self) -> MapIter<'_> {
        MapIter {
            slots: self.slots.iter(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The value of `key`, matched ignoring ASCII case as nats-server does
    /// for option names. When several keys differ only in case, the last one.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry of `key`, matched ignoring ASCII case (the last one).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.slots
            .iter()
            .rev()
            .flatten()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// Add `key: value`, replacing an entry with exactly the same key.
    pub fn insert(&mut self, key: String, key_pos: Pos, value: Value) {
        self.push(Entry {
            key,
            key_pos,
            value,
            used_as_variable: false,
        });
    }

    /// Add an entry, replacing one with exactly the same key.
    pub(crate) fn push(&mut self, entry: Entry) {
        if let Some(old) = self.index.insert(entry.key.clone(), self.slots.len()) {
            self.slots[old] = None;
        }
        self.slots.push(Some(entry));
    }

    /// The entry whose key is exactly `key` (variables are case-sensitive).
    pub(crate) fn entry_exact_mut(&mut self, key: &str) -> Option<&mut Entry> {
        let slot = *self.index.get(key)?;
        self.slots.get_mut(slot)?.as_mut()
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// Iterator over a [`Map`]'s entries in file order.
#[derive(Debug, Clone)]
pub struct MapIter<'a> {
    slots: std::slice::Iter<'a, Option<Entry>>,
}

impl<'a> Iterator for MapIter<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        self.slots.by_ref().flatten().next()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a Entry;
    type IntoIter = MapIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for Map {
    type Item = Entry;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Option<Entry>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter().flatten()
    }
}
