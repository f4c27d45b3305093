//! Finds where a field (`flows[1].steps[0].http.destination`) is written in a YAML file, so an
//! error the server reports about a definition names the file's line and column.
//!
//! The YAML deserializer attaches the position of the node it is reading to any error raised
//! there; walking the document along the path and failing on purpose at the target yields its
//! position without a second YAML parser.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

const FOUND: &str = "\u{0}found";

/// Walks to the node at `path`; fails with [`FOUND`] there, succeeds when the path is absent.
struct Probe<'a>(&'a [Segment]);

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Segment::Key(want), rest)) = self.0.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(key) = map.next_key::<String>()? {
            if &key == want {
                map.next_value_seed(Probe(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Segment::Index(want), rest)) = self.0.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let mut i = 0;
        loop {
            if i == *want {
                if seq.next_element_seed(Probe(rest))?.is_none() {
                    return Ok(());
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Probe<'_> {
    /// A scalar is the target only when the path ends here.
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

/// The 1-based line and column where `path` is written in `text`, or where its nearest written
/// ancestor is (a field left to its default has no place of its own).
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let all = segments(path);
    (0..=all.len()).rev().find_map(|n| {
        let de = yaml_serde::Deserializer::from_str(text);
        let err = Probe(&all[..n]).deserialize(de).err()?;
        if !err.to_string().contains(FOUND) {
            return None;
        }
        err.location().map(|l| (l.line(), l.column()))
    })
}

/// One line per fault: `file:line:column: field: message` (without a place when the field is
/// not written in the file).
pub fn describe_faults(text: &str, file: &str, fields: &[switchyard_core::source::FieldError]) -> String {
    fields
        .iter()
        .map(|f| match locate_field(text, &f.field) {
            Some((line, column)) => format!("{file}:{line}:{column}: {}: {}", f.field, f.message),
            None => format!("{file}: {}: {}", f.field, f.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`locate`] for a field as the server names it: a flow step is named by its id
/// (`flows[0].steps.contact.http.path`), wherever it sits (inside a branch or a foreach too).
pub fn locate_field(text: &str, field: &str) -> Option<(usize, usize)> {
    locate(text, &written_path(text, field).unwrap_or_else(|| field.to_string()))
}

/// `flows[0].steps.contact.http` as written: `flows[0].steps[2].branch[1].steps[0].http`.
fn written_path(text: &str, field: &str) -> Option<String> {
    let (flow, rest) = field.split_once(".steps.")?;
    let (id, tail) = rest.split_once('.').map_or((rest, ""), |(id, t)| (id, t));
    let doc: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
    let mut node = &doc;
    for segment in segments(flow) {
        node = match segment {
            Segment::Key(k) => node.get(k.as_str())?,
            Segment::Index(i) => node.get(i)?,
        };
    }
    let found = find_step(node.get("steps")?, id, "steps")?;
    Some(match tail {
        "" => format!("{flow}.{found}"),
        t => format!("{flow}.{found}.{t}"),
    })
}

/// The path, under `at`, of the step with this id among `steps` and the steps nested in them.
fn find_step(steps: &yaml_serde::Value, id: &str, at: &str) -> Option<String> {
    for (i, step) in steps.as_sequence()?.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if step.get("id").and_then(|v| v.as_str()) == Some(id) {
            return Some(here);
        }
        if let Some(found) = nested(step, id, &here) {
            return Some(found);
        }
    }
    None
}

/// Steps inside a step: `branch[k].steps` and `foreach.steps`.
fn nested(step: &yaml_serde::Value, id: &str, at: &str) -> Option<String> {
    if let Some(arms) = step.get("branch").and_then(|b| b.as_sequence()) {
        for (k, arm) in arms.iter().enumerate() {
            if let Some(found) = arm
                .get("steps")
                .and_then(|s| find_step(s, id, &format!("{at}.branch[{k}].steps")))
            {
                return Some(found);
            }
        }
    }
    step.get("foreach")
        .and_then(|f| f.get("steps"))
        .and_then(|s| find_step(s, id, &format!("{at}.foreach.steps")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "sources:\n  - name: a\n    verify: {scheme: none}\nflows:\n  - name: f\n    steps:\n      - id: one\n        http: {destination: crm, path: /x}\n      - id: two\n        map: '.payload'\n";

    #[test]
    fn finds_nested_fields_and_items() {
        assert_eq!(locate(TEXT, "flows[0]"), Some((5, 5)));
        assert_eq!(locate(TEXT, "flows[0].steps[1].map"), Some((10, 14)));
        assert_eq!(locate(TEXT, "flows[0].steps[0].http.destination"), Some((8, 29)));
        assert_eq!(locate(TEXT, "sources[0].verify.scheme"), Some((3, 22)));
    }

    #[test]
    fn steps_named_by_id_are_found_where_they_are_written() {
        assert_eq!(locate_field(TEXT, "flows[0].steps.two.map"), Some((10, 14)));
        let nested = "flows:\n  - name: f\n    steps:\n      - id: pick\n        branch:\n          - when: 'true'\n            steps:\n              - id: deep\n                map: '.x'\n";
        assert_eq!(locate_field(nested, "flows[0].steps.deep.map"), Some((9, 22)));
    }

    #[test]
    fn an_unwritten_field_points_at_its_nearest_ancestor() {
        assert_eq!(locate(TEXT, "flows[0].trigger.source"), Some((5, 5)));
        assert_eq!(locate(TEXT, "flows[3]"), Some((5, 3)));
    }
}
