//! Parse, compile and run one expression with jaq. Only ever called on a worker thread with a
//! large stack (see `pool`), after `limits::check` has passed.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;
use serde_json::Value;

use crate::JqError;

/// Native filters left out of the run-time: they read the environment or other inputs, write
/// to stderr, or exit the process. `limits` refuses their names too; leaving them out makes a
/// call that slipped past the lexer a compile error instead of an effect.
const NO_NATIVE: &[&str] = &["halt", "env", "input", "inputs", "debug_empty", "stderr_empty"];
/// Standard-library definitions built on those natives.
const NO_DEF: &[&str] = &["stderr", "debug", "halt", "halt_error", "input", "inputs"];

pub(crate) type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

/// Largest serialized result kept; a bigger one is an error rather than a memory hazard.
pub(crate) const MAX_OUTPUT_BYTES: usize = 64 * 1024;

pub(crate) fn compile(code: &str) -> Result<Filter, JqError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|d| !NO_DEF.contains(&d.name));
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !NO_NATIVE.contains(name))
        .chain([md5()]);
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| JqError::Invalid(format!("does not parse ({} error(s))", errs.len())))?;
    Compiler::default().with_funs(funs).compile(modules).map_err(|errs| {
        let names: Vec<String> = errs
            .iter()
            .flat_map(|(_, e)| e.iter().map(|(name, _)| name.to_string()))
            .take(3)
            .collect();
        JqError::Invalid(format!("does not compile: unknown or misused {}", names.join(", ")))
    })
}

/// `md5`: the lower-case hex MD5 digest of a string's UTF-8 bytes. APIs name resources by it
/// (Mailchimp's subscriber hash is the MD5 of the lower-cased email), so a flow's `path` must
/// be able to compute one; it is not for security.
fn md5() -> jaq_core::native::Fun<data::JustLut<Val>> {
    use md5::Digest;
    jaq_core::native::run(("md5", Box::new([]), |cv| {
        let result = match &cv.1 {
            Val::TStr(bytes) | Val::BStr(bytes) => Ok(Val::from(hex::encode(md5::Md5::digest(&bytes[..])))),
            other => Err(jaq_core::Error::str(format!("md5 takes a string, not {other}"))),
        };
        jaq_core::box_iter::box_once(result.map_err(jaq_core::Exn::from))
    }))
}

/// Runs `filter` on `input` and collects at most `max_outputs` results.
pub(crate) fn run(filter: &Filter, input: Value, max_outputs: usize) -> Result<Vec<Value>, JqError> {
    let input: Val = serde_json::from_value(input).map_err(|e| JqError::Failed(e.to_string()))?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut out = Vec::new();
    let mut size = 0usize;
    for item in filter.id.run((ctx, input)).take(max_outputs) {
        // An exception that is not an error is a `halt`, which cannot be compiled in; treat
        // anything else the same as an error rather than exit the process as jaq's CLI would.
        let val = item.map_err(|e| match e.get_err() {
            Ok(err) => JqError::Failed(err.to_string()),
            Err(_) => JqError::Failed("the expression tried to halt".into()),
        })?;
        let text = val.to_string();
        size += text.len();
        if size > MAX_OUTPUT_BYTES {
            return Err(JqError::Failed(format!(
                "the result is larger than {MAX_OUTPUT_BYTES} bytes"
            )));
        }
        out.push(to_json(&text)?);
    }
    Ok(out)
}

fn to_json(text: &str) -> Result<Value, JqError> {
    // jaq prints NaN and infinities, which JSON cannot hold, as bare words; so does a byte
    // string. Either is an error for a caller that wants JSON.
    serde_json::from_str(text).map_err(|_| JqError::Failed("the result is not representable as JSON".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(code: &str, input: Value) -> Result<Vec<Value>, JqError> {
        run(&compile(code)?, input, 10)
    }

    #[test]
    fn runs_the_standard_library() {
        let input = json!({"headers": {"x-id": "a1"}, "body": {"items": [{"sku": "b"}, {"sku": "a"}]}});
        assert_eq!(eval(".headers[\"x-id\"]", input.clone()).unwrap(), vec![json!("a1")]);
        assert_eq!(
            eval("[.body.items[].sku] | sort | join(\"-\")", input.clone()).unwrap(),
            vec![json!("a-b")]
        );
        assert_eq!(eval(".body.items[].sku", input.clone()).unwrap().len(), 2);
        assert_eq!(
            eval("\"\\(.headers[\"x-id\"]):1\"", input).unwrap(),
            vec![json!("a1:1")]
        );
    }

    #[test]
    fn md5_digests_strings() {
        // RFC 1321's test vector, and Mailchimp's subscriber hash of a mixed-case address.
        assert_eq!(
            eval("md5", json!("abc")).unwrap(),
            vec![json!("900150983cd24fb0d6963f7d28e17f72")]
        );
        assert_eq!(
            eval("ascii_downcase | md5", json!("Urist.McVankab@Freddiesjokes.com")).unwrap(),
            vec![json!("62eeb292278cc15f5817cb78f7790b08")]
        );
        assert!(matches!(eval("md5", json!(1)), Err(JqError::Failed(_))));
    }

    #[test]
    fn errors_and_exclusions() {
        assert!(matches!(eval("error(\"boom\")", json!(null)), Err(JqError::Failed(_))));
        assert!(matches!(compile("stderr"), Err(JqError::Invalid(_))));
        assert!(matches!(compile("env"), Err(JqError::Invalid(_))));
        assert!(matches!(compile(".a |"), Err(JqError::Invalid(_))));
        assert!(matches!(eval("nan", json!(null)), Err(JqError::Failed(_))));
        assert_eq!(eval("empty", json!(1)).unwrap(), Vec::<Value>::new());
    }
}
