//! Static limits an expression must pass before jaq ever parses it. jaq parses, compiles and
//! runs recursively, and a few of its filters never end (`last(range(1e12))`) or recurse
//! without bound (`def f: 1 + f; f`); both abort the whole process, not just the request.
//! These rules make such programs unwritable; the worker's deadline catches what remains.

use crate::JqError;

/// Longest expression accepted, in bytes: enough for any key or filter, too short to nest
/// deeply or build exponential pipelines from many stages.
pub const MAX_LEN: usize = 1024;
/// Deepest nesting of `()`, `[]`, `{}` and string interpolations.
pub const MAX_DEPTH: usize = 32;

/// Filters that can run forever or recurse without a bound set by the input, read the
/// process environment or other inputs, write to stderr, or exit the process.
const DENIED: &[&str] = &[
    "def",
    "recurse",
    "recurse_down",
    "repeat",
    "while",
    "until",
    "range",
    "combinations",
    "input",
    "inputs",
    "input_filename",
    "input_line_number",
    "env",
    "$ENV",
    "$__loc__",
    "builtins",
    "halt",
    "halt_error",
    "debug",
    "stderr",
    "debug_empty",
    "stderr_empty",
    "get_search_list",
    "get_prog_origin",
    "get_jq_origin",
    "import",
    "include",
    "modulemeta",
];

/// Checks size, nesting and names without running jaq. Names inside string literals do not
/// count, names inside `\(…)` interpolations do.
pub fn check(code: &str) -> Result<(), JqError> {
    if code.trim().is_empty() {
        return Err(JqError::Invalid("the expression is empty".into()));
    }
    if code.len() > MAX_LEN {
        return Err(JqError::Invalid(format!("longer than {MAX_LEN} bytes")));
    }
    let bytes = code.as_bytes();
    // Each open bracket or interpolation pushes what closes it; `"` marks a string body.
    let mut stack: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if stack.last() == Some(&b'"') {
            match c {
                b'\\' if bytes.get(i + 1) == Some(&b'(') => {
                    stack.push(b')');
                    i += 2;
                    check_depth(&stack)?;
                    continue;
                }
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => stack.push(b'"'),
            b'(' => stack.push(b')'),
            b'[' => stack.push(b']'),
            b'{' => stack.push(b'}'),
            // The guard pops exactly once whether or not the bracket matches.
            b')' | b']' | b'}' if stack.pop() != Some(c) => {
                return Err(JqError::Invalid(format!("unbalanced '{}'", c as char)));
            }
            b'$' | b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                // A name after `.` is an object key (`.range`), not a call.
                let is_key = start > 0 && bytes[start - 1] == b'.';
                let name = &code[start..i];
                if !is_key && DENIED.contains(&name) {
                    return Err(JqError::Invalid(format!(
                        "'{name}' is not allowed: it can run without bound or reach outside the payload"
                    )));
                }
                continue;
            }
            _ => {}
        }
        check_depth(&stack)?;
        i += 1;
    }
    if !stack.is_empty() {
        return Err(JqError::Invalid("unterminated bracket or string".into()));
    }
    Ok(())
}

fn check_depth(stack: &[u8]) -> Result<(), JqError> {
    if stack.len() > MAX_DEPTH {
        return Err(JqError::Invalid(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn ordinary_expressions_pass() {
        for ok in [
            ".headers[\"x-request-id\"]",
            ".body.data.object.id // .body.id",
            "\"\\(.body.type):\\(.body.id)\"",
            ".body | select(.kind == \"range\") | .range",
            "[.body.items[] | .sku] | join(\",\") # comment with def and range",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn hostile_expressions_fail() {
        let deep = format!("{}.{}", "[".repeat(40), "]".repeat(40));
        for bad in [
            "def f: 1 + f; f",
            "last(range(1e12))",
            "\"\\(last(range(1e12)))\"",
            "repeat(.)",
            "[.[] | while(true; .)]",
            "$ENV.SWITCHYARD_MASTER_KEY",
            "env.HOME",
            "halt",
            "input",
            deep.as_str(),
            "(.a",
            "\"open",
            "",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert!(check(&"1+".repeat(600)).is_err(), "too long");
    }
}
