//! Matching through the prefilter, where an anchor could wrongly hide a rule.

use pyetwkit_sigma::{FieldValue, LoadOptions, LogSource, RuleSet, Scratch};

fn rules(yaml: &str) -> RuleSet {
    let set = RuleSet::from_texts(&[("r".into(), yaml.into())], &LoadOptions::default());
    assert!(set.rejected().is_empty(), "{:?}", set.rejected());
    set
}

fn matches(set: &RuleSet, event: &[(&str, FieldValue<'_>)]) -> bool {
    let source = LogSource::new(Some("windows"), Some("test"), None);
    !set.matches(&event.to_vec(), &source, &mut Scratch::default())
        .is_empty()
}

fn number_rule(value: &str) -> RuleSet {
    rules(&format!(
        "title: n\nlogsource: {{product: windows, category: test}}\n\
         detection:\n  sel:\n    EventID: {value}\n  condition: sel\n"
    ))
}

#[test]
fn numbers_match_across_types() {
    let float_rule = number_rule("0.0");
    assert!(matches(&float_rule, &[("EventID", FieldValue::Int(0))]));
    assert!(matches(&float_rule, &[("EventID", FieldValue::Float(0.0))]));
    assert!(matches(&float_rule, &[("EventID", FieldValue::Str("0.0"))]));
    assert!(!matches(&float_rule, &[("EventID", FieldValue::Str("0"))]));
    let int_rule = number_rule("4688");
    assert!(matches(&int_rule, &[("EventID", FieldValue::Int(4688))]));
    assert!(matches(&int_rule, &[("EventID", FieldValue::UInt(4688))]));
    assert!(matches(
        &int_rule,
        &[("EventID", FieldValue::Float(4688.0))]
    ));
    assert!(matches(&int_rule, &[("EventID", FieldValue::Str("4688"))]));
    assert!(!matches(
        &int_rule,
        &[("EventID", FieldValue::Str("4688.0"))]
    ));
    assert!(!matches(&int_rule, &[("EventID", FieldValue::Bool(true))]));
}

#[test]
fn file_name_anchors_need_the_backslash() {
    let set = rules(
        "title: f\nlogsource: {product: windows, category: test}\n\
         detection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n",
    );
    assert!(matches(
        &set,
        &[("Image", FieldValue::Str(r"C:\Windows\System32\CMD.EXE"))]
    ));
    assert!(!matches(&set, &[("Image", FieldValue::Str("cmd.exe"))]));
    assert!(!matches(
        &set,
        &[("Image", FieldValue::Str(r"C:\x\notcmd.exe"))]
    ));
}
