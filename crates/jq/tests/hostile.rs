//! The hazards named in DEPENDENCIES.md, run through the public API: none may crash or stall
//! the test process.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_jq::{Jq, JqError, validate};

#[test]
fn crashing_programs_are_refused_as_configuration() {
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    for bad in [
        "def f: 1 + f; f",
        "last(range(1e12))",
        deep.as_str(),
        "[limit(1e9; repeat(1))]",
    ] {
        assert!(matches!(validate(bad), Err(JqError::Invalid(_))), "{bad}");
    }
    // Nesting that passes the bracket limit but not through brackets still compiles safely.
    assert!(validate(&format!("{}.", "- ".repeat(400))).is_ok());
    assert!(validate(".body.id").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overrunning_expression_times_out_and_is_disabled() {
    let jq = Jq::new(1, Duration::from_millis(100));
    let slow: Arc<str> = Arc::from("[.[] as $a | .[] as $b | .[] as $c | $a + $b + $c] | length");
    let input = Value::Array((0..3000).map(|i| json!(i)).collect());
    // The expression needs billions of steps: a `Timeout` (not a result) is the evidence that the
    // caller was released at its budget while the worker kept running.
    assert_eq!(jq.run(&slow, input.clone(), 1).await, Err(JqError::Timeout));
    assert_eq!(jq.stuck_workers(), 1);
    // Disabled: refused at once, without taking another worker.
    assert_eq!(jq.run(&slow, input, 1).await, Err(JqError::Timeout));
    assert_eq!(jq.stuck_workers(), 1);
    // The replacement worker serves other expressions.
    let fine: Arc<str> = Arc::from(".a");
    assert_eq!(jq.first(&fine, json!({"a": 1})).await, Ok(Some(json!(1))));
}

#[tokio::test]
async fn deep_inputs_and_recursive_descent_stay_within_the_stack() {
    let jq = Jq::new(1, Duration::from_secs(5));
    let mut v = json!(1);
    for _ in 0..120 {
        v = json!([v]);
    }
    let code: Arc<str> = Arc::from("[..] | length");
    assert_eq!(jq.first(&code, v.clone()).await, Ok(Some(json!(121))));
    let nest: Arc<str> = Arc::from("reduce (.. | numbers) as $x (.; [.]) | tojson | length");
    assert!(jq.first(&nest, v).await.is_ok());
}

#[tokio::test]
async fn many_outputs_are_capped() {
    let jq = Jq::new(2, Duration::from_secs(5));
    let code: Arc<str> = Arc::from(".[]");
    let out = jq.run(&code, json!([1, 2, 3, 4]), 2).await.unwrap();
    assert_eq!(out, vec![json!(1), json!(2)]);
    let big: Arc<str> = Arc::from("[.[] | tostring] | join(\"\") | . + . + . + .");
    let input = Value::Array((0..10000).map(|i| json!(i)).collect());
    assert!(matches!(jq.first(&big, input).await, Err(JqError::Failed(_))));
}
