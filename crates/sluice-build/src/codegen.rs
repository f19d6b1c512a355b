//! Small helpers shared by the Protobuf and Avro generators.

use std::collections::BTreeMap;

/// How a field on a key path is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A plain field (`String`, or a nested struct).
    Direct,
    /// An `Option` (a proto3 message field, an `optional` string, or an Avro
    /// union with null).
    Optional,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyStep {
    pub(crate) field: String,
    pub(crate) access: Access,
}

/// The body of `partition_key(&self) -> &str` for a path of fields whose
/// last step is a string; an absent value on the way gives `""`.
pub(crate) fn key_expr(steps: &[KeyStep]) -> String {
    let mut expr = "self".to_owned();
    let mut in_option = false;
    let Some((last, path)) = steps.split_last() else {
        return "\"\"".to_owned();
    };
    for step in path {
        expr = match (in_option, step.access) {
            (false, Access::Direct) => format!("{expr}.{}", step.field),
            (false, Access::Optional) => format!("{expr}.{}.as_ref()", step.field),
            (true, Access::Direct) => format!("{expr}.map(|v| &v.{})", step.field),
            (true, Access::Optional) => format!("{expr}.and_then(|v| v.{}.as_ref())", step.field),
        };
        in_option |= step.access == Access::Optional;
    }
    let f = &last.field;
    match (in_option, last.access) {
        (false, Access::Direct) => format!("&{expr}.{f}"),
        (false, Access::Optional) => format!("{expr}.{f}.as_deref().unwrap_or(\"\")"),
        (true, Access::Direct) => format!("{expr}.map_or(\"\", |v| v.{f}.as_str())"),
        (true, Access::Optional) => {
            format!("{expr}.and_then(|v| v.{f}.as_deref()).unwrap_or(\"\")")
        }
    }
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async",
    "await", "dyn", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// A schema name as a Rust field or module identifier: snake case, raw when
/// it is a keyword (`type` → `r#type`), as prost names them.
pub(crate) fn rust_field(name: &str) -> String {
    let snake = heck::ToSnakeCase::to_snake_case(name);
    match snake.as_str() {
        "self" | "super" | "crate" | "Self" => format!("{snake}_"),
        s if KEYWORDS.contains(&s) => format!("r#{s}"),
        _ => snake,
    }
}

/// Nested `pub mod` blocks, one per dotted package segment, each holding the
/// given items.
#[derive(Debug, Default)]
pub(crate) struct ModuleTree {
    items: Vec<String>,
    children: BTreeMap<String, ModuleTree>,
}

impl ModuleTree {
    pub(crate) fn add(&mut self, package: &str, item: String) {
        let mut node = self;
        for segment in package.split('.').filter(|s| !s.is_empty()) {
            node = node.children.entry(rust_field(segment)).or_default();
        }
        node.items.push(item);
    }

    pub(crate) fn render(&self, out: &mut String) {
        for item in &self.items {
            out.push_str(item);
            out.push('\n');
        }
        for (name, child) in &self.children {
            out.push_str(&format!("pub mod {name} {{\n"));
            child.render(out);
            out.push_str("}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(field: &str, access: Access) -> KeyStep {
        KeyStep {
            field: field.into(),
            access,
        }
    }

    #[test]
    fn key_expressions_follow_options() {
        use Access::*;
        assert_eq!(key_expr(&[step("id", Direct)]), "&self.id");
        assert_eq!(
            key_expr(&[step("id", Optional)]),
            "self.id.as_deref().unwrap_or(\"\")"
        );
        assert_eq!(
            key_expr(&[step("metadata", Optional), step("tenant_id", Direct)]),
            "self.metadata.as_ref().map_or(\"\", |v| v.tenant_id.as_str())"
        );
        assert_eq!(
            key_expr(&[step("a", Direct), step("b", Optional), step("c", Optional)]),
            "self.a.b.as_ref().and_then(|v| v.c.as_deref()).unwrap_or(\"\")"
        );
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        assert_eq!(rust_field("type"), "r#type");
        assert_eq!(rust_field("eventId"), "event_id");
        assert_eq!(rust_field("self"), "self_");
    }
}
