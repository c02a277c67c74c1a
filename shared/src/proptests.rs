//! Property tests (issue 7, "Suites → Fuzz") for every parser and domain type that
//! `shared` exposes: arbitrary input never panics, an accepted value satisfies every
//! documented rule, parsing is idempotent, generated valid inputs are accepted and an
//! input that breaks exactly one rule is rejected.
//!
//! Case counts: 256 per property (proptest's default, `PROPTEST_CASES` overrides it),
//! fewer where one case is expensive (ES256 signatures, 16 KiB documents, deep bodies).
//! No regression files are written (`failure_persistence: None`): a failure prints the
//! shrunk input, which belongs in a plain `#[test]` once understood.
//!
//! Tests marked `#[ignore = "bug: …"]` state a rule that the current code breaks (the
//! reason names it); run them with
//! `cargo test -p hangar-shared --test proptest_parsers -- --ignored`.
//!
//! Depth, as `crate::domain::json_depth` counts it: a scalar is 0, an array or object
//! is 1 + the largest depth of its members, so `{}` is 1 and `{"a":{}}` is 2.
//! `Configuration` nests at most 16 deep, any body at most 32 (`MAX_BODY_DEPTH`).
//!
//! Webhook signatures moved to the `protocol` crate, whose own proptests cover them.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde::Deserialize;
use serde_json::{json, Value};
use crate::config::{AllowedImages, Config, Origins, PrivyConfig, PrivyKeySource};
use crate::domain::{
    is_word, json_depth, parse_id, Configuration, DisplayName, Empty, HttpUrl, Id, Image, MachineName, Patch, Provider, Region,
    SshKey, Tier,
};
use crate::auth::jwt::{self, Audience};
use crate::api::machines::{CreateMachine, MachinePatch};
use crate::auth::bearer_token;
use crate::http::json::{check_media_type, nesting_depth, parse_json, MAX_BODY_DEPTH};
use crate::http::call::MAX_BODY_BYTES;
use crate::auth::privy;
use crate::http::{cors, rate_limit};
use crate::ApiError;
use std::collections::HashMap;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// proptest's defaults (256 cases, `PROPTEST_CASES` honoured) without regression files.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Fewer cases for properties whose single case is expensive.
fn config_cases(cases: u32) -> ProptestConfig {
    ProptestConfig { cases: cases.min(ProptestConfig::default().cases), ..config() }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// An object of exactly `depth` levels; inner levels are objects or arrays per `arrays`.
fn nested(depth: usize, arrays: &[bool]) -> Value {
    assert!(depth >= 1);
    let mut v = json!(1);
    for level in (1..depth).rev() {
        v = if arrays.get(level).copied().unwrap_or(false) { json!([v]) } else { json!({ "k": v }) };
    }
    json!({ "k": v })
}

/// JSON without floats (serde_json's default float parsing is not exactly round-trip).
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(any::<String>(), arb_json(), 0..6).prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// `v` with every backtick in keys and strings replaced.
fn without_backticks(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('`', "'")),
        Value::Array(items) => Value::Array(items.iter().map(without_backticks).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.replace('`', "'"), without_backticks(v))).collect()),
        other => other.clone(),
    }
}

fn arb_non_object() -> impl Strategy<Value = Value> {
    arb_json().prop_filter("not an object", |v| !v.is_object())
}

/// Whitespace that `str::trim` removes, ASCII and not.
fn pad() -> impl Strategy<Value = String> {
    "[ \t\r\n\u{a0}\u{2003}\u{3000}]{0,3}"
}

/// Inserts `c` at char position `at % (len + 1)`.
fn insert_char(s: &str, at: usize, c: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    let at = at % (chars.len() + 1);
    chars[..at].iter().chain(std::iter::once(&c)).chain(chars[at..].iter()).collect()
}

/// Inserts `c` strictly inside `s` (never first or last), so trimming cannot remove it.
fn insert_inside(s: &str, at: usize, c: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    assert!(chars.len() >= 2);
    let at = 1 + at % (chars.len() - 1);
    chars[..at].iter().chain(std::iter::once(&c)).chain(chars[at..].iter()).collect()
}

fn validation_field(e: &ApiError) -> Option<&str> {
    match e {
        ApiError::Validation { field, .. } => Some(field),
        _ => None,
    }
}

fn arb_uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::from_bytes)
}

/// Polls a future that never pends natively (`privy::verify` with a PEM key).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("future pended on a native build"),
    }
}

fn now() -> i64 {
    crate::clock::now().timestamp()
}

// ---------------------------------------------------------------------------------------
// MachineName: 1–63 chars of [A-Za-z0-9 _-], trimmed
// ---------------------------------------------------------------------------------------

const NAME: &str = "[A-Za-z0-9_-]([A-Za-z0-9 _-]{0,61}[A-Za-z0-9_-])?";

fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ')
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn machine_name_ok_satisfies_every_rule(raw in any::<String>()) {
        if let Ok(name) = MachineName::parse(&raw) {
            let s = name.as_ref();
            prop_assert!((1..=63).contains(&s.chars().count()));
            prop_assert!(s.chars().all(name_char_ok));
            prop_assert_eq!(s, s.trim());
            prop_assert_eq!(s, raw.trim());
            prop_assert_eq!(MachineName::parse(s), Ok(name.clone()));
        }
    }

    #[test]
    fn machine_name_parse_is_idempotent(raw in any::<String>()) {
        let once = MachineName::parse(&raw);
        if let Ok(name) = &once {
            prop_assert_eq!(MachineName::parse(name.as_ref()), once.clone());
        }
    }

    #[test]
    fn machine_name_serde_agrees_with_parse(raw in any::<String>()) {
        let via_serde = serde_json::from_value::<MachineName>(Value::String(raw.clone())).ok();
        prop_assert_eq!(via_serde.clone(), MachineName::parse(&raw).ok());
        if let Some(name) = via_serde {
            prop_assert_eq!(serde_json::to_value(&name).unwrap(), Value::String(name.as_ref().to_string()));
        }
    }

    #[test]
    fn valid_machine_names_are_accepted_and_trimmed(name in NAME, before in pad(), after in pad()) {
        let parsed = MachineName::parse(&format!("{before}{name}{after}"));
        prop_assert_eq!(parsed.as_ref().map(|n| n.as_ref()), Ok(name.as_str()));
    }

    #[test]
    fn machine_name_too_long_is_rejected(name in "[A-Za-z0-9_-][A-Za-z0-9 _-]{62,100}[A-Za-z0-9_-]") {
        prop_assert!(MachineName::parse(&name).is_err());
    }

    #[test]
    fn machine_name_blank_is_rejected(blank in pad()) {
        prop_assert!(MachineName::parse(&blank).is_err());
    }

    #[test]
    fn machine_name_with_one_bad_char_is_rejected(
        name in "[A-Za-z0-9_-]([A-Za-z0-9 _-]{0,59}[A-Za-z0-9_-])?",
        at in any::<usize>(),
        bad in any::<char>().prop_filter("outside the name alphabet, not trimmed", |c| !name_char_ok(*c) && !c.is_whitespace()),
    ) {
        prop_assert!(MachineName::parse(&insert_char(&name, at, bad)).is_err());
    }

    #[test]
    fn machine_name_with_inner_non_space_whitespace_is_rejected(
        name in "[A-Za-z0-9_-]{2,60}",
        at in any::<usize>(),
        ws in "[\t\r\n\u{a0}\u{3000}]",
    ) {
        let ws = ws.chars().next().unwrap();
        prop_assert!(MachineName::parse(&insert_inside(&name, at, ws)).is_err());
    }
}

// ---------------------------------------------------------------------------------------
// Region, Image, is_word
// ---------------------------------------------------------------------------------------

fn region_char_ok(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn image_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._:/@-".contains(c)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn region_ok_satisfies_every_rule(raw in any::<String>()) {
        if let Ok(region) = Region::parse(&raw) {
            let s = region.as_ref();
            prop_assert_eq!(s, raw.as_str(), "regions are not trimmed or rewritten");
            prop_assert!((2..=32).contains(&s.chars().count()));
            prop_assert!(s.chars().all(region_char_ok));
            prop_assert_eq!(Region::parse(s), Ok(region.clone()));
        }
        let via_serde = serde_json::from_value::<Region>(Value::String(raw.clone())).ok();
        prop_assert_eq!(via_serde, Region::parse(&raw).ok());
    }

    #[test]
    fn valid_regions_are_accepted(raw in "[a-z0-9-]{2,32}") {
        prop_assert_eq!(Region::parse(&raw).map(|r| r.as_ref().to_string()), Ok(raw));
    }

    #[test]
    fn region_of_wrong_length_is_rejected(raw in "[a-z0-9-]{1}|[a-z0-9-]{33,64}") {
        prop_assert!(Region::parse(&raw).is_err());
    }

    #[test]
    fn region_with_one_bad_char_is_rejected(
        raw in "[a-z0-9-]{2,31}",
        at in any::<usize>(),
        bad in any::<char>().prop_filter("outside the region alphabet", |c| !region_char_ok(*c)),
    ) {
        prop_assert!(Region::parse(&insert_char(&raw, at, bad)).is_err());
    }

    #[test]
    fn image_ok_satisfies_every_rule(raw in any::<String>()) {
        if let Ok(image) = Image::parse(&raw) {
            let s = image.as_ref();
            prop_assert_eq!(s, raw.as_str());
            prop_assert!((1..=128).contains(&s.chars().count()));
            prop_assert!(s.chars().all(image_char_ok));
            prop_assert_eq!(Image::parse(s), Ok(image.clone()));
        }
        let via_serde = serde_json::from_value::<Image>(Value::String(raw.clone())).ok();
        prop_assert_eq!(via_serde, Image::parse(&raw).ok());
    }

    #[test]
    fn valid_images_are_accepted(raw in "[A-Za-z0-9._:/@-]{1,128}") {
        prop_assert_eq!(Image::parse(&raw).map(|r| r.as_ref().to_string()), Ok(raw));
    }

    #[test]
    fn image_of_wrong_length_is_rejected(raw in "|[A-Za-z0-9._:/@-]{129,200}") {
        prop_assert!(Image::parse(&raw).is_err());
    }

    #[test]
    fn image_with_one_bad_char_is_rejected(
        raw in "[A-Za-z0-9._:/@-]{1,127}",
        at in any::<usize>(),
        bad in any::<char>().prop_filter("outside the image alphabet", |c| !image_char_ok(*c)),
    ) {
        prop_assert!(Image::parse(&insert_char(&raw, at, bad)).is_err());
    }

    #[test]
    fn image_default_is_an_image(_x in Just(())) {
        prop_assert!(Image::parse(Image::DEFAULT).is_ok());
    }

    #[test]
    fn is_word_matches_its_definition(raw in any::<String>(), max in 0usize..200, punctuation in any::<String>()) {
        let expected = (1..=max).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || punctuation.contains(c));
        prop_assert_eq!(is_word(&raw, max, &punctuation), expected);
    }

    #[test]
    fn is_word_accepts_generated_words(word in "[A-Za-z0-9._-]{1,64}") {
        prop_assert!(is_word(&word, 64, "._-"));
        prop_assert!(!is_word(&word, word.len() - 1, "._-"), "one byte over max");
    }
}

// ---------------------------------------------------------------------------------------
// Configuration: a JSON object of at most 16 KiB (and, soon, depth ≤ 16)
// ---------------------------------------------------------------------------------------

const CONFIG_MAX: usize = 16 * 1024;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn configuration_accepts_objects_and_keeps_them(v in arb_object()) {
        prop_assume!(v.to_string().len() <= CONFIG_MAX && depth(&v) <= 16 && v.get("ports").is_none());
        let c = Configuration::try_from(v.clone());
        prop_assert!(c.is_ok(), "{:?}", c);
        let c = c.unwrap();
        prop_assert_eq!(c.value(), &v);
        let via_serde: Configuration = serde_json::from_value(v.clone()).unwrap();
        prop_assert_eq!(via_serde.value(), &v);
        prop_assert_eq!(serde_json::to_value(&via_serde).unwrap(), v);
    }

    #[test]
    fn configuration_rejects_non_objects(v in arb_non_object()) {
        prop_assert!(Configuration::try_from(v.clone()).is_err());
        prop_assert!(serde_json::from_value::<Configuration>(v).is_err());
    }

    #[test]
    fn configuration_ok_is_a_small_object(v in arb_json()) {
        if let Ok(c) = Configuration::try_from(v) {
            prop_assert!(c.value().is_object());
            prop_assert!(c.value().to_string().len() <= CONFIG_MAX);
            prop_assert!(json_depth(c.value()) <= Configuration::MAX_DEPTH);
            if let Some(ports) = c.value().get("ports") {
                let ports = ports.as_array().unwrap();
                prop_assert!(ports.len() <= Configuration::MAX_PORTS);
                prop_assert!(ports.iter().all(|p| p.as_u64().is_some_and(|n| (1..=65535).contains(&n))));
            }
        }
    }

    #[test]
    fn json_depth_matches_the_test_model(v in arb_json()) {
        prop_assert_eq!(json_depth(&v), depth(&v));
    }

    #[test]
    fn configuration_valid_ports_are_accepted(ports in prop::collection::vec(1u64..=65535, 0..=20), extra in arb_object()) {
        let mut v = extra;
        v["ports"] = json!(ports);
        prop_assume!(v.to_string().len() <= CONFIG_MAX && depth(&v) <= 16);
        prop_assert!(Configuration::try_from(v).is_ok());
    }

    #[test]
    fn configuration_too_many_ports_are_rejected(ports in prop::collection::vec(1u64..=65535, 21..40)) {
        prop_assert!(Configuration::try_from(json!({ "ports": ports })).is_err(), "assertion failed");
    }

    #[test]
    fn configuration_one_bad_port_is_rejected(
        ports in prop::collection::vec(1u64..=65535, 0..20),
        bad in prop_oneof![
            Just(json!(0)),
            (65536u64..).prop_map(|n| json!(n)),
            (i64::MIN..0).prop_map(|n| json!(n)),
            (1.5f64..65535.0).prop_map(|f| json!(f)),
            "[0-9]{1,5}".prop_map(|s| json!(s)),
            Just(json!(null)),
            Just(json!([80])),
        ],
        at in any::<usize>(),
    ) {
        let mut ports: Vec<Value> = ports.into_iter().map(|p| json!(p)).collect();
        let at = at % (ports.len() + 1);
        ports.insert(at, bad);
        prop_assert!(Configuration::try_from(json!({ "ports": ports })).is_err(), "assertion failed");
    }

    #[test]
    fn configuration_ports_must_be_a_list(ports in arb_json().prop_filter("not a list", |v| !v.is_array())) {
        prop_assert!(Configuration::try_from(json!({ "ports": ports })).is_err(), "assertion failed");
    }

    #[test]
    fn configuration_objects_up_to_depth_16_are_accepted(d in 1usize..=16, arrays in prop::collection::vec(any::<bool>(), 16)) {
        let v = nested(d, &arrays);
        prop_assert_eq!(depth(&v), d);
        prop_assert!(Configuration::try_from(v).is_ok());
    }

    #[test]
    fn configuration_deeper_than_16_is_rejected(d in 17usize..=100, arrays in prop::collection::vec(any::<bool>(), 100)) {
        let v = nested(d, &arrays);
        prop_assert_eq!(depth(&v), d);
        prop_assert!(v.to_string().len() <= CONFIG_MAX, "only the depth rule is broken");
        prop_assert!(Configuration::try_from(v.clone()).is_err());
        prop_assert!(serde_json::from_value::<Configuration>(v).is_err());
    }
}

proptest! {
    #![proptest_config(config_cases(64))]

    /// `{"a":"<n x's>"}` serialises to n + 8 bytes: accepted exactly up to 16 KiB.
    #[test]
    fn configuration_size_boundary(n in (CONFIG_MAX - 200)..(CONFIG_MAX + 200)) {
        let v = json!({ "a": "x".repeat(n) });
        let len = v.to_string().len();
        prop_assert_eq!(len, n + 8);
        prop_assert_eq!(Configuration::try_from(v).is_ok(), len <= CONFIG_MAX);
    }

    #[test]
    fn configuration_size_counts_bytes_of_any_text(s in any::<String>(), n in 0usize..(CONFIG_MAX + 100)) {
        let v = json!({ "a": s.repeat(1 + n / (s.len() + 1)) });
        prop_assert_eq!(Configuration::try_from(v.clone()).is_ok(), v.to_string().len() <= CONFIG_MAX);
    }
}

// ---------------------------------------------------------------------------------------
// SshKey (ssh-keys, and create-machine's sshPublicKey): `<type> <base64 blob> [comment]`,
// the blob exactly the fields of its type (domain/ssh_key.rs; real keys of every type
// against ssh-keygen are in tests/e2e/ssh-keys)
// ---------------------------------------------------------------------------------------

const SSH_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// An SSH wire string: u32 length, then the bytes.
fn ssh_string(b: &[u8]) -> Vec<u8> {
    let mut out = (b.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

/// The base64 blob of `kind` followed by `material` (raw bytes, not split into fields).
fn ssh_blob(kind: &str, material: &[u8]) -> String {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let mut blob = ssh_string(kind.as_bytes());
    blob.extend_from_slice(material);
    STANDARD.encode(blob)
}

fn arb_ssh_kind() -> impl Strategy<Value = &'static str> {
    prop::sample::select(SSH_TYPES.to_vec())
}

fn arb_material() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..80)
}

/// A well-formed key of an ed25519 or ECDSA type: its type and the blob's fields after it.
fn arb_wellformed_key() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    let ed = prop::collection::vec(any::<u8>(), 32).prop_map(|k| ("ssh-ed25519", ssh_string(&k)));
    let ecdsa = prop::sample::select(vec![("ecdsa-sha2-nistp256", "nistp256", 65usize), ("ecdsa-sha2-nistp384", "nistp384", 97), ("ecdsa-sha2-nistp521", "nistp521", 133)])
        .prop_flat_map(|(kind, curve, len)| {
            prop::collection::vec(any::<u8>(), len - 1).prop_map(move |xy| {
                let mut point = vec![4u8];
                point.extend(xy);
                let mut fields = ssh_string(curve.as_bytes());
                fields.extend(ssh_string(&point));
                (kind, fields)
            })
        });
    prop_oneof![ed, ecdsa]
}

/// A comment: printable ASCII (may contain spaces), possibly absent.
fn arb_comment() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[!-~]([ -~]{0,40}[!-~])?".prop_map(|c| format!(" {c}"))]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ssh_key_ok_satisfies_every_rule(raw in any::<String>()) {
        if let Ok(key) = SshKey::parse(&raw) {
            let s = key.as_ref();
            prop_assert!(s.len() <= 8192 && !s.chars().any(char::is_control));
            let kind = s.split(' ').next().unwrap();
            prop_assert!(SSH_TYPES.contains(&kind));
            prop_assert_eq!(SshKey::parse(s), Ok(key.clone()));
        }
        let via_serde = serde_json::from_value::<SshKey>(Value::String(raw.clone())).ok();
        prop_assert_eq!(via_serde, SshKey::parse(&raw).ok());
    }

    /// Lines built from a real type and arbitrary text after it never panic (the blob's
    /// length prefixes are arbitrary here).
    #[test]
    fn ssh_key_never_panics_on_typed_lines(kind in arb_ssh_kind(), blob in prop::collection::vec(any::<u8>(), 0..64), rest in any::<String>()) {
        use base64::{engine::general_purpose::STANDARD, Engine};
        let _ = SshKey::parse(&format!("{kind} {}{rest}", STANDARD.encode(blob)));
    }

    #[test]
    fn wellformed_ssh_keys_are_accepted(key in arb_wellformed_key(), comment in arb_comment(), before in pad(), after in pad()) {
        let (kind, fields) = key;
        let line = format!("{kind} {}{comment}", ssh_blob(kind, &fields));
        let parsed = SshKey::parse(&format!("{before}{line}{after}"));
        prop_assert_eq!(parsed.as_ref().map(|k| k.as_ref()), Ok(line.as_str()));
    }

    #[test]
    fn ssh_key_with_trailing_bytes_is_rejected(key in arb_wellformed_key(), extra in arb_material()) {
        let (kind, mut fields) = key;
        fields.extend(extra);
        prop_assert!(SshKey::parse(&format!("{kind} {}", ssh_blob(kind, &fields))).is_err(), "assertion failed");
    }

    #[test]
    fn ssh_key_of_unknown_type_is_rejected(kind in "[a-z0-9@.-]{1,40}", material in arb_material()) {
        prop_assume!(!SSH_TYPES.contains(&kind.as_str()));
        prop_assert!(SshKey::parse(&format!("{kind} {}", ssh_blob(&kind, &material))).is_err(), "assertion failed");
    }

    #[test]
    fn ssh_key_whose_blob_names_another_type_is_rejected(key in arb_wellformed_key(), other in arb_ssh_kind()) {
        let (kind, fields) = key;
        prop_assume!(kind != other);
        prop_assert!(SshKey::parse(&format!("{other} {}", ssh_blob(kind, &fields))).is_err(), "assertion failed");
    }

    #[test]
    fn ssh_key_without_key_material_is_rejected(kind in arb_ssh_kind(), comment in arb_comment()) {
        prop_assert!(SshKey::parse(&format!("{kind} {}{comment}", ssh_blob(kind, &[]))).is_err(), "assertion failed");
    }

    #[test]
    fn ssh_key_with_bad_base64_is_rejected(key in arb_wellformed_key(), at in any::<usize>(), bad in "[!#$%&*.,;~]") {
        let (kind, fields) = key;
        let blob = insert_char(&ssh_blob(kind, &fields), at, bad.chars().next().unwrap());
        prop_assert!(SshKey::parse(&format!("{kind} {blob}")).is_err(), "assertion failed");
    }

    #[test]
    fn ssh_key_without_blob_is_rejected(kind in arb_ssh_kind(), before in pad(), after in pad()) {
        prop_assert!(SshKey::parse(&format!("{before}{kind}{after}")).is_err(), "assertion failed");
    }

    #[test]
    fn ssh_key_with_inner_newline_is_rejected(key in arb_wellformed_key(), a in "[!-~]{1,10}", b in "[!-~]{1,10}") {
        let (kind, fields) = key;
        let line = format!("{kind} {} {a}\n{b}", ssh_blob(kind, &fields));
        prop_assert!(SshKey::parse(&line).is_err());
    }

    #[test]
    fn ssh_key_over_8192_bytes_is_rejected(key in arb_wellformed_key(), extra in 0usize..2000) {
        let (kind, fields) = key;
        let line = format!("{kind} {}", ssh_blob(kind, &fields));
        let comment = "c".repeat(8192 - line.len() + extra);
        prop_assert!(SshKey::parse(&format!("{line} {comment}")).is_err(), "assertion failed");
    }
}

// ---------------------------------------------------------------------------------------
// Id, parse_id: UUIDs in bodies and in paths/query strings
// ---------------------------------------------------------------------------------------

fn uuid_forms(u: Uuid) -> Vec<String> {
    vec![
        u.hyphenated().to_string(),
        u.hyphenated().to_string().to_uppercase(),
        u.simple().to_string(),
        u.urn().to_string(),
        u.braced().to_string(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn id_accepts_every_uuid_form(u in arb_uuid(), form in 0usize..5, before in pad(), after in pad()) {
        let raw = format!("{before}{}{after}", uuid_forms(u)[form]);
        let id: Id = serde_json::from_value(Value::String(raw.clone())).unwrap();
        prop_assert_eq!(id.uuid(), u);
        prop_assert_eq!(parse_id("machineId", Some(&raw)).unwrap(), u);
    }

    #[test]
    fn id_and_parse_id_agree(raw in any::<String>()) {
        let id = serde_json::from_value::<Id>(Value::String(raw.clone())).ok().map(Id::uuid);
        prop_assert_eq!(id, Uuid::parse_str(raw.trim()).ok());
        match parse_id("machineId", Some(&raw)) {
            Ok(u) => prop_assert_eq!(Some(u), id),
            Err(e) => {
                prop_assert_eq!(id, None);
                prop_assert_eq!(validation_field(&e), Some("machineId"));
                prop_assert_eq!(e.status(), 400);
            }
        }
    }

    #[test]
    fn id_rejects_non_strings(v in arb_json().prop_filter("not a string", |v| !v.is_string())) {
        prop_assert!(serde_json::from_value::<Id>(v).is_err());
    }

    #[test]
    fn parse_id_names_its_field_when_missing(field in "[a-zA-Z]{1,20}", blank in prop::option::of(pad())) {
        let e = parse_id(&field, blank.as_deref()).unwrap_err();
        prop_assert_eq!(validation_field(&e), Some(field.as_str()));
        prop_assert_eq!(e.message(), format!("`{field}` is required"));
    }

    #[test]
    fn parse_id_with_one_bad_char_is_rejected(u in arb_uuid(), at in 1usize..35, bad in "[g-zG-Z!#%*]") {
        let mut s = u.hyphenated().to_string();
        s.replace_range(at..at + 1, &bad);
        prop_assert!(parse_id("projectId", Some(&s)).is_err());
    }
}

// ---------------------------------------------------------------------------------------
// DisplayName: trimmed, 1–64 chars, no control chars. HttpUrl: http(s), ≤ 2048.
// ---------------------------------------------------------------------------------------

const DISPLAY_NAME: &str = "[^\\p{Cc}\\s]([^\\p{Cc}]{0,62}[^\\p{Cc}\\s])?";

fn arb_http_url() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("http"), Just("https"), Just("HTTPS")],
        // `xn--` starts a punycode label, which must then decode: not generated here.
        "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,6}){0,3}".prop_filter("no punycode", |h| !h.contains("xn--")),
        prop::option::of(1u16..),
        "(/[A-Za-z0-9._~-]{0,12}){0,5}",
        prop::option::of("[a-z]{1,8}=[A-Za-z0-9]{0,8}"),
    )
        .prop_map(|(scheme, host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("{scheme}://{host}{port}{path}{query}")
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn display_name_ok_satisfies_every_rule(raw in any::<String>()) {
        if let Ok(name) = DisplayName::try_from(raw.clone()) {
            let s = name.as_ref();
            prop_assert_eq!(s, raw.trim());
            prop_assert!((1..=64).contains(&s.chars().count()));
            prop_assert!(!s.chars().any(char::is_control));
            prop_assert_eq!(DisplayName::try_from(s.to_string()), Ok(name.clone()));
        }
        let via_serde = serde_json::from_value::<DisplayName>(Value::String(raw.clone())).ok();
        prop_assert_eq!(via_serde, DisplayName::try_from(raw).ok());
    }

    #[test]
    fn valid_display_names_are_accepted(name in DISPLAY_NAME, before in pad(), after in pad()) {
        let parsed = DisplayName::try_from(format!("{before}{name}{after}"));
        prop_assert_eq!(parsed.as_ref().map(|n| n.as_ref()), Ok(name.as_str()));
    }

    #[test]
    fn display_name_too_long_is_rejected(name in "[^\\p{Cc}\\s][^\\p{Cc}]{63,100}[^\\p{Cc}\\s]") {
        prop_assert!(DisplayName::try_from(name).is_err());
    }

    #[test]
    fn display_name_blank_is_rejected(blank in pad()) {
        prop_assert!(DisplayName::try_from(blank).is_err());
    }

    #[test]
    fn display_name_with_inner_control_char_is_rejected(name in "[^\\p{Cc}\\s]{2,60}", at in any::<usize>(), c in "\\p{Cc}") {
        prop_assert!(DisplayName::try_from(insert_inside(&name, at, c.chars().next().unwrap())).is_err());
    }

    #[test]
    fn http_url_ok_satisfies_every_rule(raw in any::<String>()) {
        if let Ok(u) = HttpUrl::try_from(raw.clone()) {
            let s = u.as_ref();
            prop_assert_eq!(s, raw.trim());
            prop_assert!(s.len() <= 2048);
            let parsed = url::Url::parse(s).unwrap();
            prop_assert!(matches!(parsed.scheme(), "http" | "https"));
            prop_assert!(parsed.host_str().is_some());
            prop_assert_eq!(HttpUrl::try_from(s.to_string()), Ok(u.clone()));
        }
        let via_serde = serde_json::from_value::<HttpUrl>(Value::String(raw.clone())).ok();
        prop_assert_eq!(via_serde, HttpUrl::try_from(raw).ok());
    }

    #[test]
    fn valid_http_urls_are_accepted(url in arb_http_url(), before in pad(), after in pad()) {
        let parsed = HttpUrl::try_from(format!("{before}{url}{after}"));
        prop_assert_eq!(parsed.as_ref().map(|u| u.as_ref()), Ok(url.as_str()));
    }

    #[test]
    fn http_url_with_another_scheme_is_rejected(
        url in arb_http_url(),
        scheme in prop_oneof![Just("ftp"), Just("file"), Just("ws"), Just("wss"), Just("javascript"), Just("data"), Just("gopher"), Just("mailto")],
    ) {
        let (_, rest) = url.split_once("://").unwrap();
        prop_assert!(HttpUrl::try_from(format!("{scheme}://{rest}")).is_err(), "assertion failed");
    }

    #[test]
    fn http_url_over_2048_bytes_is_rejected(url in arb_http_url(), extra in 1usize..500) {
        let long = format!("{url}#{}", "a".repeat(2048 + extra));
        prop_assert!(HttpUrl::try_from(long).is_err());
    }

    #[test]
    fn http_url_without_host_is_rejected(path in "[a-z0-9/]{0,20}", scheme in prop_oneof![Just("http:"), Just("https:")]) {
        // `http:` with no authority at all, or only an empty one.
        prop_assert!(HttpUrl::try_from(format!("{scheme}//")).is_err(), "assertion failed");
        prop_assert!(HttpUrl::try_from(format!("/{path}")).is_err(), "assertion failed");
    }
}

// ---------------------------------------------------------------------------------------
// Patch, Tier, Provider, Audience
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    n: Patch<i64>,
    #[serde(default)]
    name: Patch<DisplayName>,
}

const TIERS: [(&str, Tier); 4] = [
    ("dev.small", Tier::DevSmall),
    ("dev.medium", Tier::DevMedium),
    ("dev.large", Tier::DevLarge),
    ("dev.xlarge", Tier::DevXlarge),
];

const PROVIDERS: [(&str, Provider); 3] = [("aws", Provider::Aws), ("gcp", Provider::Gcp), ("azure", Provider::Azure)];

/// Flips the case of the letters whose bit in `mask` is set.
fn recase(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn patch_tells_absent_null_and_value(n in prop::option::of(prop::option::of(any::<i64>()))) {
        let body = match n {
            None => json!({}),
            Some(None) => json!({ "n": null }),
            Some(Some(v)) => json!({ "n": v }),
        };
        let parsed: PatchBody = parse_json(body.to_string().as_bytes()).unwrap();
        let expected = match n {
            None => Patch::Absent,
            Some(None) => Patch::Null,
            Some(Some(v)) => Patch::Value(v),
        };
        prop_assert_eq!(&parsed.n, &expected);
        let sql = serde_json::to_value(parsed.n.to_sql()).unwrap();
        match n {
            None => prop_assert_eq!(sql, json!({ "set": false })),
            Some(None) => prop_assert_eq!(sql, json!({ "set": true, "value": null })),
            Some(Some(v)) => prop_assert_eq!(sql, json!({ "set": true, "value": v })),
        }
    }

    #[test]
    fn patch_value_goes_through_the_inner_type(raw in any::<String>()) {
        let body = json!({ "name": raw });
        let parsed = parse_json::<PatchBody>(body.to_string().as_bytes());
        match DisplayName::try_from(raw) {
            Ok(name) => prop_assert_eq!(parsed.unwrap().name, Patch::Value(name)),
            Err(message) => {
                let e = parsed.unwrap_err();
                prop_assert_eq!(validation_field(&e), Some("name"));
                prop_assert!(e.message().contains(&message), "{} lacks {}", e.message(), message);
            }
        }
    }

    #[test]
    fn tier_serde_is_exactly_the_four_names(raw in any::<String>(), pick in 0usize..4) {
        let (name, tier) = TIERS[pick];
        prop_assert_eq!(serde_json::to_value(tier).unwrap(), json!(name));
        prop_assert_eq!(serde_json::from_value::<Tier>(json!(name)).unwrap(), tier);
        let parsed = serde_json::from_value::<Tier>(Value::String(raw.clone())).ok();
        prop_assert_eq!(parsed, TIERS.iter().find(|(n, _)| *n == raw).map(|(_, t)| *t));
    }

    #[test]
    fn tier_rejects_near_misses(pick in 0usize..4, mask in 1u64.., before in pad(), after in pad()) {
        let (name, _) = TIERS[pick];
        let changed = format!("{before}{}{after}", recase(name, mask));
        prop_assume!(changed != name);
        prop_assert!(serde_json::from_value::<Tier>(Value::String(changed)).is_err());
    }

    #[test]
    fn provider_parse_is_trimmed_and_case_insensitive(raw in any::<String>()) {
        let expected = PROVIDERS.iter().find(|(n, _)| *n == raw.trim().to_ascii_lowercase()).map(|(_, p)| *p);
        prop_assert_eq!(Provider::parse(&raw), expected);
    }

    #[test]
    fn provider_parse_accepts_any_case_and_padding(pick in 0usize..3, mask in any::<u64>(), before in pad(), after in pad()) {
        let (name, provider) = PROVIDERS[pick];
        prop_assert_eq!(Provider::parse(&format!("{before}{}{after}", recase(name, mask))), Some(provider));
    }

    #[test]
    fn provider_serde_is_lowercase_and_strict(pick in 0usize..3, raw in any::<String>()) {
        let (name, provider) = PROVIDERS[pick];
        prop_assert_eq!(serde_json::to_value(provider).unwrap(), json!(name));
        prop_assert_eq!(serde_json::from_value::<Provider>(json!(name)).unwrap(), provider);
        let parsed = serde_json::from_value::<Provider>(Value::String(raw.clone())).ok();
        prop_assert_eq!(parsed, PROVIDERS.iter().find(|(n, _)| *n == raw).map(|(_, p)| *p));
    }

    #[test]
    fn audience_is_a_string_or_a_list(aud in prop_oneof![
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<String>(), 0..4).prop_map(|v| json!(v)),
        arb_json(),
    ], wanted in any::<String>()) {
        match serde_json::from_value::<Audience>(aud.clone()) {
            Ok(a) => {
                let expected = match &aud {
                    Value::String(s) => *s == wanted,
                    Value::Array(items) => items.iter().any(|i| i.as_str() == Some(wanted.as_str())),
                    other => panic!("Audience accepted {other}"),
                };
                prop_assert_eq!(a.contains(&wanted), expected);
            }
            Err(_) => {
                let all_strings = aud.as_array().is_some_and(|items| items.iter().all(Value::is_string));
                prop_assert!(!aud.is_string() && !all_strings);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// request: parse_json, bearer_token, check_media_type
// ---------------------------------------------------------------------------------------

/// CreateMachine's fields (camelCase) with a value that breaks that field's rule.
fn arb_create_machine_breakage() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        "[A-Za-z0-9]{1,10}[/!é.][A-Za-z0-9]{0,10}".prop_map(|v| ("name", json!(v))),
        "[A-Za-z]{64,80}".prop_map(|v| ("name", json!(v))),
        Just(("name", json!(5))),
        Just(("name", json!(null))),
        "dev\\.[a-z]{1,8}".prop_filter("not a tier", |t| !TIERS.iter().any(|(n, _)| n == t)).prop_map(|v| ("tier", json!(v))),
        "[a-z]{1,12}".prop_filter("not a provider", |p| !PROVIDERS.iter().any(|(n, _)| n == p)).prop_map(|v| ("provider", json!(v))),
        "[A-Z]{2,10}".prop_map(|v| ("region", json!(v))),
        "[a-z ]{0,1}".prop_map(|v| ("region", json!(v))),
        "[a-z]{1,5} [a-z]{1,5}".prop_map(|v| ("image", json!(v))),
        "[g-z]{1,36}".prop_map(|v| ("projectId", json!(v))),
        arb_non_object().prop_map(|v| ("configuration", v)).prop_filter("null means absent", |(_, v)| !v.is_null()),
        Just(("configuration", json!({ "a": "x".repeat(CONFIG_MAX) }))),
        "[a-z]{1,20}".prop_map(|v| ("sshPublicKey", json!(v))),
    ]
}

const CREATE_MACHINE_FIELDS: [&str; 8] =
    ["name", "tier", "provider", "region", "image", "projectId", "configuration", "sshPublicKey"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_json_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for e in [
            parse_json::<Value>(&bytes).err(),
            parse_json::<Empty>(&bytes).err(),
            parse_json::<CreateMachine>(&bytes).err(),
            parse_json::<MachinePatch>(&bytes).err(),
        ].into_iter().flatten() {
            prop_assert!(matches!(e, ApiError::InvalidJson | ApiError::Validation { .. }), "{:?}", e);
            prop_assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn parse_json_never_panics_on_json_text(v in arb_json(), tail in "[ \t\n]{0,2}") {
        let bytes = format!("{v}{tail}").into_bytes();
        // Any JSON object is accepted as a Value and comes back unchanged; any other
        // document is not a body (400 naming `body`).
        match parse_json::<Value>(&bytes) {
            Ok(parsed) => prop_assert_eq!(parsed, v.clone()),
            Err(e) => {
                prop_assert!(!v.is_object(), "an object was refused: {:?}", e);
                prop_assert_eq!(e, ApiError::validation("body", "The body must be a JSON object"));
            }
        }
        for e in [
            parse_json::<Empty>(&bytes).err(),
            parse_json::<CreateMachine>(&bytes).err(),
            parse_json::<MachinePatch>(&bytes).err(),
        ].into_iter().flatten() {
            prop_assert_eq!(e.status(), 400);
        }
    }

    /// A well-formed object body is never "invalid JSON": its errors name a field (an
    /// unknown key "" is named "", which is its name). Keys with a backtick, and enums
    /// of the wrong type, have their own (ignored) properties.
    #[test]
    fn object_body_errors_name_a_field(v in arb_object().prop_map(|v| without_backticks(&v))) {
        let text = v.to_string();
        prop_assume!(["tier", "provider"].iter().all(|k| v.get(*k).is_none_or(Value::is_string)));
        for e in [
            parse_json::<Empty>(text.as_bytes()).err(),
            parse_json::<CreateMachine>(text.as_bytes()).err(),
            parse_json::<MachinePatch>(text.as_bytes()).err(),
        ].into_iter().flatten() {
            let field = validation_field(&e);
            prop_assert!(field.is_some_and(|f| !f.is_empty() || v.get("").is_some()), "{:?} for {}", e, text);
        }
    }

    /// A body is a JSON object: serde would otherwise read a struct from an array,
    /// field by field in declaration order (`["web"]` as `{"name":"web"}`).
    #[test]
    fn array_bodies_are_refused(name in NAME, extra in prop::collection::vec(arb_json(), 0..3)) {
        let mut items = vec![json!(name)];
        items.extend(extra);
        let body = Value::Array(items).to_string();
        prop_assert!(parse_json::<CreateMachine>(body.as_bytes()).is_err(), "accepted {}", body);
        prop_assert!(parse_json::<MachinePatch>(b"[]").is_err(), "accepted []");
        prop_assert!(parse_json::<Empty>(b"[]").is_err(), "accepted []");
    }

    #[test]
    fn parse_json_rejects_trailing_garbage(v in arb_json(), tail in "[ ]{1,2}[^ \t\r\n]{1,4}") {
        let bytes = format!("{v}{tail}").into_bytes();
        prop_assert_eq!(parse_json::<Value>(&bytes).unwrap_err(), ApiError::InvalidJson);
    }

    #[test]
    fn parse_json_reads_blank_as_empty_object(blank in "[ \t\r\n]{0,8}") {
        prop_assert!(parse_json::<Empty>(blank.as_bytes()).is_ok());
        prop_assert_eq!(parse_json::<Value>(blank.as_bytes()).unwrap(), json!({}));
        let e = parse_json::<CreateMachine>(blank.as_bytes()).err().unwrap();
        prop_assert_eq!(validation_field(&e), Some("name"));
        prop_assert_eq!(e.message(), "`name` is required");
    }

    #[test]
    fn create_machine_errors_name_the_broken_field((field, bad) in arb_create_machine_breakage(), name in NAME) {
        let mut body = json!({ "name": name });
        body[field] = bad;
        let e = parse_json::<CreateMachine>(body.to_string().as_bytes()).err();
        prop_assert!(e.is_some(), "accepted {}", body);
        let e = e.unwrap();
        prop_assert_eq!(validation_field(&e), Some(field), "{:?}", e);
        prop_assert_eq!(e.code(), "validation_error");
    }

    #[test]
    fn create_machine_accepts_valid_bodies(
        name in NAME,
        tier in prop::option::of(0usize..4),
        provider in prop::option::of(0usize..3),
        region in prop::option::of("[a-z0-9-]{2,32}"),
        image in prop::option::of("[A-Za-z0-9._:/@-]{1,128}"),
        project in prop::option::of(arb_uuid()),
        configuration in prop::option::of(arb_object()),
        key in prop::option::of(arb_wellformed_key()),
    ) {
        let mut body = json!({ "name": name });
        if let Some(t) = tier { body["tier"] = json!(TIERS[t].0); }
        if let Some(p) = provider { body["provider"] = json!(PROVIDERS[p].0); }
        if let Some(r) = region { body["region"] = json!(r); }
        if let Some(i) = image { body["image"] = json!(i); }
        if let Some(p) = project { body["projectId"] = json!(p); }
        if let Some(c) = configuration {
            prop_assume!(c.to_string().len() <= CONFIG_MAX && depth(&c) <= 16);
            body["configuration"] = c;
        }
        if let Some((kind, fields)) = key { body["sshPublicKey"] = json!(format!("{kind} {}", ssh_blob(kind, &fields))); }
        let parsed = parse_json::<CreateMachine>(body.to_string().as_bytes());
        prop_assert!(parsed.is_ok(), "{:?} for {}", parsed.err(), body);
    }

    #[test]
    fn create_machine_names_an_unknown_field(key in "[A-Za-z_][A-Za-z0-9_]{0,20}", v in arb_json(), name in NAME) {
        prop_assume!(!CREATE_MACHINE_FIELDS.contains(&key.as_str()));
        let body = json!({ "name": name, key.clone(): v });
        let e = parse_json::<CreateMachine>(body.to_string().as_bytes()).err().unwrap();
        prop_assert_eq!(validation_field(&e), Some(key.as_str()));
        prop_assert_eq!(e.message(), format!("Unknown field `{key}`"));
    }

    #[test]
    fn machine_patch_errors_name_the_broken_field(
        (field, bad) in prop_oneof![
            "[A-Za-z0-9]{1,5}[/!é][A-Za-z0-9]{0,5}".prop_map(|v| ("name", json!(v))),
            "[g-z]{1,36}".prop_map(|v| ("projectId", json!(v))),
            "big|huge|dev\\.tiny".prop_map(|v| ("tier", json!(v))),
        ],
    ) {
        let body = json!({ field: bad });
        let e = parse_json::<MachinePatch>(body.to_string().as_bytes()).err().unwrap();
        prop_assert_eq!(validation_field(&e), Some(field), "{:?}", e);
    }

    #[test]
    fn machine_patch_accepts_null_and_values(name in prop::option::of(prop::option::of(NAME)), tier in prop::option::of(prop::option::of(0usize..4))) {
        let mut body = json!({});
        if let Some(n) = name { body["name"] = json!(n); }
        if let Some(t) = tier { body["tier"] = json!(t.map(|t| TIERS[t].0)); }
        prop_assert!(parse_json::<MachinePatch>(body.to_string().as_bytes()).is_ok());
    }

    /// An identifier-like unknown key is named as given.
    #[test]
    fn empty_body_names_an_identifier_key(key in "[A-Za-z_][A-Za-z0-9_]{0,20}", v in arb_json()) {
        let body = format!("{{{}:{v}}}", serde_json::to_string(&key).unwrap());
        let e = parse_json::<Empty>(body.as_bytes()).unwrap_err();
        prop_assert_eq!(validation_field(&e), Some(key.as_str()));
    }

    /// Any unknown key, whatever its characters, is named as given.
    #[test]
    #[ignore = "bug: an unknown key holding a backtick is misnamed (key \"`\" is named \"`.\")"]
    fn empty_body_names_any_key(key in any::<String>(), v in arb_json()) {
        let body = format!("{{{}:{v}}}", serde_json::to_string(&key).unwrap());
        let e = parse_json::<Empty>(body.as_bytes()).unwrap_err();
        prop_assert_eq!(validation_field(&e), Some(key.as_str()), "{:?}", e);
    }

    #[test]
    fn bearer_token_ok_is_the_trimmed_rest(header in any::<String>()) {
        if let Some(token) = bearer_token(Some(&header)) {
            let value = header.trim();
            prop_assert!(value[..7].eq_ignore_ascii_case("bearer "));
            prop_assert_eq!(token.as_str(), value[7..].trim());
            prop_assert!(!token.is_empty());
            prop_assert_eq!(token.trim(), token.as_str());
        }
    }

    #[test]
    fn bearer_tokens_are_read_in_any_case(token in "[A-Za-z0-9._~+/=-]{1,200}", mask in any::<u64>(), gap in "[ ]{1,3}", before in pad(), after in pad()) {
        let header = format!("{before}{}{gap}{token}{after}", recase("bearer", mask));
        prop_assert_eq!(bearer_token(Some(&header)), Some(token));
    }

    #[test]
    fn other_schemes_are_not_bearer(scheme in "[A-Za-z]{1,10}", token in "[A-Za-z0-9]{1,40}") {
        prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
        prop_assert_eq!(bearer_token(Some(&format!("{scheme} {token}"))), None);
        prop_assert_eq!(bearer_token(Some(&format!("Bearer{}", " ".repeat(token.len() % 3)))), None);
        prop_assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn media_type_matches_its_rules(content_type in prop::option::of(any::<String>()), len in 0usize..(2 * MAX_BODY_BYTES)) {
        let result = check_media_type(content_type.as_deref(), len);
        let essence = content_type.as_deref().unwrap_or("").split(';').next().unwrap().trim().to_ascii_lowercase();
        let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
        if len > MAX_BODY_BYTES {
            prop_assert_eq!(result, Err(ApiError::PayloadTooLarge));
        } else if len == 0 || json {
            prop_assert_eq!(result, Ok(()));
        } else {
            prop_assert_eq!(result, Err(ApiError::UnsupportedMediaType));
        }
    }

    #[test]
    fn json_media_types_are_accepted(
        essence in prop_oneof![Just("application/json".to_string()), "application/[a-z.-]{1,20}\\+json"],
        mask in any::<u64>(),
        params in "(; ?[a-z]{1,8}=[a-z0-9-]{1,8}){0,2}",
        len in 1usize..=MAX_BODY_BYTES,
    ) {
        let ct = format!("{}{params}", recase(&essence, mask));
        prop_assert_eq!(check_media_type(Some(&ct), len), Ok(()));
    }

    #[test]
    fn other_media_types_are_refused(essence in "(text|multipart|image)/[a-z+]{1,12}|application/(x-www-form-urlencoded|xml|octet-stream|jsonx)", len in 1usize..=MAX_BODY_BYTES) {
        prop_assert_eq!(check_media_type(Some(&essence), len), Err(ApiError::UnsupportedMediaType));
    }
}

// Depth limits on bodies: 32 for every body, 16 for a Configuration inside one.
proptest! {
    #![proptest_config(config_cases(64))]

    #[test]
    fn bodies_up_to_depth_32_are_accepted(d in 1usize..=32, arrays in prop::collection::vec(any::<bool>(), 32)) {
        let body = nested(d, &arrays);
        prop_assert_eq!(parse_json::<Value>(body.to_string().as_bytes()).ok(), Some(body));
    }

    #[test]
    fn bodies_deeper_than_32_are_a_validation_error(d in 33usize..=120, arrays in prop::collection::vec(any::<bool>(), 120)) {
        let body = nested(d, &arrays);
        let e = parse_json::<Value>(body.to_string().as_bytes()).err();
        prop_assert!(e.is_some(), "depth {} accepted", d);
        let e = e.unwrap();
        prop_assert_eq!((e.status(), e.code()), (400, "validation_error"), "{:?}", e);
        prop_assert!(validation_field(&e).is_some_and(|f| !f.is_empty()));
    }

    #[test]
    fn deep_configuration_in_a_body_names_configuration(d in 17usize..=30, arrays in prop::collection::vec(any::<bool>(), 30), name in NAME) {
        let body = json!({ "name": name, "configuration": nested(d, &arrays) });
        prop_assert!(depth(&body) <= 32, "only the configuration rule is broken");
        let e = parse_json::<CreateMachine>(body.to_string().as_bytes()).err();
        prop_assert!(e.is_some(), "configuration of depth {} accepted", d);
        let e = e.unwrap();
        prop_assert_eq!(validation_field(&e), Some("configuration"));
    }

    /// However deep, a body is refused with a 400, never a stack overflow or a panic.
    #[test]
    fn very_deep_bodies_are_refused_without_overflow(d in 33usize..5000, arrays in any::<bool>()) {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"k\":", "}") };
        let body = format!("{}1{}", open.repeat(d), close.repeat(d));
        match parse_json::<Value>(body.as_bytes()) {
            // Accepted today up to serde_json's own limit (128); the depth limit will refuse it.
            Ok(v) => prop_assert_eq!(depth(&v), d),
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
        if let Err(e) = parse_json::<CreateMachine>(body.as_bytes()) {
            prop_assert_eq!(e.status(), 400);
        }
    }
}

// ---------------------------------------------------------------------------------------
// jwt: Hangar session tokens (HS256)
// ---------------------------------------------------------------------------------------

const SECRET: &str = "proptest-secret-with-at-least-32-characters";

fn b64url(bytes: &[u8]) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64url(&mac.finalize().into_bytes()))
}

/// Three base64url-looking segments.
fn arb_token_shape() -> impl Strategy<Value = String> {
    ("[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,120}", "[A-Za-z0-9_-]{0,90}").prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

/// Header and claims that would pass if the signature were right.
fn good_session_claims(sub: Uuid) -> Value {
    json!({ "sub": sub, "role": "authenticated", "aud": "authenticated", "exp": now() + 600, "iat": now() })
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn session_verify_refuses_arbitrary_strings(token in any::<String>()) {
        prop_assert!(jwt::verify_session(&token, SECRET).is_err());
        let _ = jwt::key_id(&token);
    }

    #[test]
    fn session_verify_refuses_token_shapes(token in arb_token_shape()) {
        let e = jwt::verify_session(&token, SECRET).unwrap_err();
        prop_assert_eq!(e, ApiError::InvalidToken);
        let _ = jwt::key_id(&token);
    }

    #[test]
    fn session_verify_refuses_well_formed_tokens_with_a_random_signature(sub in arb_uuid(), sig in prop::collection::vec(any::<u8>(), 0..64)) {
        let header = json!({ "alg": "HS256", "typ": "JWT" });
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(good_session_claims(sub).to_string().as_bytes()));
        prop_assert_eq!(jwt::verify_session(&format!("{input}.{}", b64url(&sig)), SECRET).unwrap_err(), ApiError::InvalidToken);
    }

    #[test]
    fn session_verify_refuses_other_secrets_and_algorithms(
        sub in arb_uuid(),
        other in ".{0,64}",
        alg in prop_oneof![Just("none".to_string()), Just("HS384".to_string()), Just("ES256".to_string()), Just("RS256".to_string()), Just("hs256".to_string()), "[A-Za-z0-9]{0,8}"],
    ) {
        prop_assume!(other != SECRET);
        let claims = good_session_claims(sub);
        let h = json!({ "alg": "HS256", "typ": "JWT" });
        prop_assert!(jwt::verify_session(&hs256(&h, &claims, SECRET.as_bytes()), SECRET).is_ok(), "control: the right token passes");
        prop_assert_eq!(jwt::verify_session(&hs256(&h, &claims, other.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        prop_assume!(alg != "HS256");
        let wrong_alg = json!({ "alg": alg, "typ": "JWT" });
        prop_assert_eq!(jwt::verify_session(&hs256(&wrong_alg, &claims, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
    }

    /// Each rule of a session token broken alone (signature right).
    #[test]
    fn session_claims_breaking_one_rule_are_refused(
        sub in arb_uuid(),
        rule in 0usize..6,
        junk in "[a-z_]{1,12}",
        late in 31i64..100_000,
    ) {
        let mut claims = good_session_claims(sub);
        let expected = match rule {
            0 => { claims["role"] = json!(junk); prop_assume!(junk != "authenticated"); ApiError::InvalidToken }
            1 => { claims["aud"] = json!(junk); prop_assume!(junk != "authenticated"); ApiError::InvalidToken }
            2 => { claims["aud"] = json!([junk]); prop_assume!(junk != "authenticated"); ApiError::InvalidToken }
            3 => { claims.as_object_mut().unwrap().remove("exp"); ApiError::InvalidToken }
            4 => { claims["exp"] = json!(now() - late); ApiError::TokenExpired }
            _ => { claims["sub"] = json!(junk); ApiError::InvalidToken }
        };
        let token = hs256(&json!({ "alg": "HS256", "typ": "JWT" }), &claims, SECRET.as_bytes());
        prop_assert_eq!(jwt::verify_session(&token, SECRET).unwrap_err(), expected);
    }

    #[test]
    fn minted_sessions_round_trip(account in arb_uuid(), session in arb_uuid(), ttl in 60i64..=90 * 86_400, secret in ".{0,64}") {
        let minted = jwt::mint_session(account, session, ttl, &secret).unwrap();
        prop_assert_eq!(minted.expires_in, ttl);
        prop_assert!((minted.expires_at - (now() + ttl)).abs() <= 2);
        let claims = jwt::verify_session(&minted.token, &secret).unwrap();
        prop_assert_eq!(claims.sub, account);
        prop_assert_eq!(claims.session_id, Some(session));
        prop_assert_eq!(claims.role.as_str(), jwt::SESSION_ROLE);
        prop_assert!(claims.aud.contains(jwt::SESSION_AUDIENCE));
        prop_assert_eq!(claims.iss.as_deref(), Some(jwt::SESSION_ISSUER));
        prop_assert_eq!(jwt::key_id(&minted.token), None);
    }

    #[test]
    fn minted_session_refused_under_another_secret(account in arb_uuid(), session in arb_uuid(), secret in ".{0,64}", other in ".{0,64}") {
        prop_assume!(secret != other);
        let minted = jwt::mint_session(account, session, 3600, &secret).unwrap();
        prop_assert_eq!(jwt::verify_session(&minted.token, &other).unwrap_err(), ApiError::InvalidToken);
    }

    #[test]
    fn minted_session_with_one_char_changed_is_refused(account in arb_uuid(), session in arb_uuid(), at in any::<usize>(), replacement in 0usize..64) {
        let token = jwt::mint_session(account, session, 3600, SECRET).unwrap().token;
        let mut bytes = token.into_bytes();
        let at = at % bytes.len();
        prop_assume!(bytes[at] != b'.');
        let new = B64URL[replacement];
        prop_assume!(new != bytes[at]);
        bytes[at] = new;
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(jwt::verify_session(&tampered, SECRET).is_err(), "accepted {}", tampered);
    }

    /// A TTL from configuration (any value `Config` accepts for SESSION_TTL_SECONDS)
    /// must not panic when minting; an absurd one should be refused or capped.
    #[test]
    fn mint_session_never_panics_on_any_accepted_ttl(ttl in 60i64..=7 * 24 * 3600) {
        let _ = jwt::mint_session(Uuid::nil(), Uuid::nil(), ttl, SECRET);
    }
}

// ---------------------------------------------------------------------------------------
// jwt + privy: Privy tokens (ES256)
// ---------------------------------------------------------------------------------------

const APP_ID: &str = "proptest-app";

fn signing_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap()
}

fn pem_of(key: &p256::ecdsa::SigningKey) -> String {
    use p256::pkcs8::EncodePublicKey;
    key.verifying_key().to_public_key_pem(Default::default()).unwrap()
}

fn es256(key: &p256::ecdsa::SigningKey, header: &Value, claims: &Value) -> String {
    use p256::ecdsa::{signature::Signer, Signature};
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let sig: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig.to_bytes()))
}

fn privy_claims(sub_suffix: &str, aud: Value) -> Value {
    json!({ "sub": format!("did:privy:{sub_suffix}"), "iss": "privy.io", "aud": aud, "iat": now(), "exp": now() + 600 })
}

fn pem_config() -> PrivyConfig {
    PrivyConfig { app_id: APP_ID.into(), key: PrivyKeySource::Pem(pem_of(&signing_key())) }
}

fn jwks_config() -> PrivyConfig {
    PrivyConfig { app_id: APP_ID.into(), key: PrivyKeySource::JwksUrl("https://auth.privy.io/api/v1/apps/x/jwks.json".into()) }
}

fn arb_privy_aud() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(APP_ID)),
        (prop::collection::vec("[a-z-]{1,12}", 0..3), any::<usize>()).prop_map(|(mut others, at)| {
            let at = at % (others.len() + 1);
            others.insert(at, APP_ID.to_string());
            json!(others)
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn privy_verify_refuses_arbitrary_strings(token in any::<String>()) {
        let vk = *signing_key().verifying_key();
        prop_assert!(jwt::verify_privy(&token, APP_ID, &vk).is_err());
        prop_assert!(block_on(privy::verify(&token, &pem_config())).is_err());
        prop_assert!(block_on(privy::verify(&token, &jwks_config())).is_err());
    }

    #[test]
    fn privy_verify_refuses_token_shapes(token in arb_token_shape()) {
        let vk = *signing_key().verifying_key();
        prop_assert_eq!(jwt::verify_privy(&token, APP_ID, &vk).unwrap_err(), ApiError::InvalidToken);
        prop_assert!(block_on(privy::verify(&token, &pem_config())).is_err());
    }

    #[test]
    fn privy_refuses_well_formed_tokens_with_a_random_signature(suffix in "[a-z0-9]{1,20}", sig in prop::collection::vec(any::<u8>(), 0..80)) {
        let header = json!({ "alg": "ES256", "typ": "JWT" });
        let claims = privy_claims(&suffix, json!(APP_ID));
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let token = format!("{input}.{}", b64url(&sig));
        prop_assert!(block_on(privy::verify(&token, &pem_config())).is_err());
    }

    /// HS256 "signed" with the public key as secret (key confusion) and `alg: none`.
    #[test]
    fn privy_refuses_key_confusion_and_none(suffix in "[a-z0-9]{1,20}", alg in prop_oneof![Just("HS256"), Just("none"), Just("ES384"), Just("RS256")]) {
        let claims = privy_claims(&suffix, json!(APP_ID));
        let pem = pem_of(&signing_key());
        let forged = hs256(&json!({ "alg": alg, "typ": "JWT" }), &claims, pem.as_bytes());
        prop_assert_eq!(block_on(privy::verify(&forged, &pem_config())).unwrap_err(), ApiError::InvalidToken);
        let unsigned = format!("{}.{}.", b64url(json!({ "alg": alg }).to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        prop_assert_eq!(block_on(privy::verify(&unsigned, &pem_config())).unwrap_err(), ApiError::InvalidToken);
    }

    #[test]
    fn pick_jwk_and_key_parsers_never_panic(jwks in arb_json(), kid in prop::option::of(any::<String>()), x in any::<String>(), y in any::<String>(), pem in any::<String>()) {
        let _ = privy::pick_jwk(&jwks, kid.as_deref());
        let _ = privy::pick_jwk(&json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": x, "y": y }] }), None);
        let _ = jwt::es256_key_from_jwk(&x, &y);
        prop_assert!(jwt::es256_key_from_pem(&pem).is_err());
    }

    #[test]
    fn jwk_coordinates_of_the_wrong_length_are_refused(x in prop::collection::vec(any::<u8>(), 0..64), y in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assume!(x.len() != 32 || y.len() != 32);
        prop_assert_eq!(jwt::es256_key_from_jwk(&b64url(&x), &b64url(&y)), None);
    }

    #[test]
    fn linked_identity_never_panics(linked in prop::option::of(prop_oneof![
        arb_json(),
        arb_json().prop_map(|v| Value::String(v.to_string())),
        prop::collection::vec(
            (prop_oneof![Just("wallet"), Just("smart_wallet"), Just("email"), Just("phone"), Just("google_oauth"), Just("_oauth"), Just("")], arb_object()),
            0..5,
        ).prop_map(|accounts| json!(accounts.into_iter().map(|(t, mut o)| { o["type"] = json!(t); o }).collect::<Vec<_>>())),
    ])) {
        let claims: jwt::PrivyClaims = serde_json::from_value(json!({
            "sub": "did:privy:x", "iss": "privy.io", "aud": APP_ID, "linked_accounts": linked,
        })).unwrap();
        if let Some(id) = privy::linked_identity(&claims) {
            prop_assert!(id.identifier.as_deref() != Some(""));
        }
    }

    #[test]
    fn a_linked_wallet_always_wins(
        others in prop::collection::vec((prop_oneof![Just("email"), Just("google_oauth"), Just("phone"), Just("passkey")], "[a-z@.]{1,12}"), 0..4),
        address in "0x[0-9a-fA-F]{40}",
        at in any::<usize>(),
        as_string in any::<bool>(),
    ) {
        let mut accounts: Vec<Value> = others.into_iter().map(|(t, v)| json!({ "type": t, "address": v, "email": v, "number": v })).collect();
        let at = at % (accounts.len() + 1);
        accounts.insert(at, json!({ "type": "wallet", "address": address }));
        let linked = if as_string { Value::String(json!(accounts).to_string()) } else { json!(accounts) };
        let claims: jwt::PrivyClaims = serde_json::from_value(json!({
            "sub": "did:privy:x", "iss": "privy.io", "aud": APP_ID, "linked_accounts": linked,
        })).unwrap();
        let id = privy::linked_identity(&claims).unwrap();
        prop_assert_eq!(id.provider.as_str(), "wallet");
        prop_assert_eq!(id.identifier, Some(address));
    }
}

proptest! {
    // One ES256 signature and verification per case (slow in a debug build).
    #![proptest_config(config_cases(32))]

    #[test]
    fn signed_privy_tokens_round_trip(suffix in "[A-Za-z0-9]{1,30}", aud in arb_privy_aud()) {
        let token = es256(&signing_key(), &json!({ "alg": "ES256", "typ": "JWT" }), &privy_claims(&suffix, aud));
        let claims = block_on(privy::verify(&token, &pem_config())).unwrap();
        prop_assert_eq!(claims.sub, format!("did:privy:{suffix}"));
        prop_assert_eq!(claims.iss.as_str(), jwt::PRIVY_ISSUER);
        prop_assert!(claims.aud.contains(APP_ID));
    }

    /// Each rule of a Privy token broken alone (signature right).
    #[test]
    fn privy_claims_breaking_one_rule_are_refused(suffix in "[A-Za-z0-9]{1,30}", rule in 0usize..6, junk in "[a-z.]{1,12}", late in 31i64..100_000) {
        let mut claims = privy_claims(&suffix, json!(APP_ID));
        let mut key = signing_key();
        let expected = match rule {
            0 => { prop_assume!(junk != "privy.io"); claims["iss"] = json!(junk); ApiError::InvalidToken }
            1 => { prop_assume!(junk != APP_ID); claims["aud"] = json!(junk); ApiError::InvalidToken }
            2 => { claims["sub"] = json!(format!("did:other:{suffix}")); ApiError::InvalidToken }
            3 => { claims["exp"] = json!(now() - late); ApiError::TokenExpired }
            4 => { claims.as_object_mut().unwrap().remove("exp"); ApiError::InvalidToken }
            _ => { key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap(); ApiError::InvalidToken }
        };
        let token = es256(&key, &json!({ "alg": "ES256", "typ": "JWT" }), &claims);
        prop_assert_eq!(block_on(privy::verify(&token, &pem_config())).unwrap_err(), expected);
    }

    #[test]
    fn privy_token_with_one_char_changed_is_refused(suffix in "[A-Za-z0-9]{1,30}", at in any::<usize>(), replacement in 0usize..64) {
        let token = es256(&signing_key(), &json!({ "alg": "ES256", "typ": "JWT" }), &privy_claims(&suffix, json!(APP_ID)));
        let mut bytes = token.into_bytes();
        let at = at % bytes.len();
        prop_assume!(bytes[at] != b'.' && B64URL[replacement] != bytes[at]);
        bytes[at] = B64URL[replacement];
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(block_on(privy::verify(&tampered, &pem_config())).is_err(), "accepted {}", tampered);
    }

    #[test]
    fn a_session_token_is_not_a_privy_token(account in arb_uuid(), session in arb_uuid()) {
        let minted = jwt::mint_session(account, session, 3600, SECRET).unwrap();
        prop_assert_eq!(block_on(privy::verify(&minted.token, &pem_config())).unwrap_err(), ApiError::InvalidToken);
        let privy_token = es256(&signing_key(), &json!({ "alg": "ES256", "typ": "JWT" }), &privy_claims("x", json!(APP_ID)));
        prop_assert_eq!(jwt::verify_session(&privy_token, SECRET).unwrap_err(), ApiError::InvalidToken);
    }
}

// ---------------------------------------------------------------------------------------
// config: Origins, Config::from_lookup. cors: origin matching.
// ---------------------------------------------------------------------------------------

fn arb_origin() -> impl Strategy<Value = String> {
    ("https?", "[a-z][a-z0-9-]{0,15}(\\.[a-z]{2,6}){0,2}", prop::option::of(1u16..)).prop_map(|(s, h, p)| {
        format!("{s}://{h}{}", p.map(|p| format!(":{p}")).unwrap_or_default())
    })
}

const CONFIG_VARS: [&str; 21] = [
    "POSTGREST_URL",
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "ALLOWED_ORIGINS",
    "SESSION_TTL_SECONDS",
    "REFRESH_TTL_DAYS",
    "HANGAR_VERSION",
    "RUNNER_URL",
    "RUNNER_SECRET",
    "RUNNER_MAX_ATTEMPTS",
    "RUNNER_RETRY_BASE_MS",
    "FUNCTIONS_URL",
    "DEFAULT_PROVIDER",
    "PRIVY_APP_ID",
    "PRIVY_VERIFICATION_KEY",
    "PRIVY_JWKS_URL",
    "ALLOWED_IMAGES",
    "HANGAR_TEST_PANIC",
    "UNRELATED",
];

/// (variable, minimum after clamping, default).
const NUMBERS: [(&str, i64, i64); 4] = [
    ("SESSION_TTL_SECONDS", 60, 3600),
    ("REFRESH_TTL_DAYS", 1, 30),
    ("RUNNER_MAX_ATTEMPTS", 1, 5),
    ("RUNNER_RETRY_BASE_MS", 1, 10_000),
];

/// Lifetimes are capped (an absurd one would overflow the token's timestamps).
fn max_of(name: &str) -> i64 {
    match name {
        "SESSION_TTL_SECONDS" => 7 * 24 * 3600,
        "REFRESH_TTL_DAYS" => 365,
        _ => i64::MAX,
    }
}

fn base_env() -> HashMap<String, String> {
    HashMap::from([
        ("SUPABASE_URL".to_string(), "https://x.supabase.co".to_string()),
        ("SUPABASE_ANON_KEY".to_string(), "anon".to_string()),
        ("SUPABASE_SERVICE_ROLE_KEY".to_string(), "service".to_string()),
        ("SUPABASE_JWT_SECRET".to_string(), "secret".to_string()),
    ])
}

fn load(env: &HashMap<String, String>) -> Result<Config, ApiError> {
    Config::from_lookup(|k| env.get(k).cloned())
}

fn number_of(c: &Config, name: &str) -> i64 {
    match name {
        "SESSION_TTL_SECONDS" => c.session_ttl_secs,
        "REFRESH_TTL_DAYS" => c.refresh_ttl_days,
        "RUNNER_MAX_ATTEMPTS" => c.runner_max_attempts,
        _ => c.runner_retry_base_ms,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn origins_parse_invariants(raw in any::<String>()) {
        match Origins::parse(&raw) {
            Origins::Any => prop_assert!(raw.split(',').any(|s| s.trim().trim_end_matches('/') == "*")),
            Origins::List(list) => {
                for o in &list {
                    prop_assert!(!o.is_empty());
                    prop_assert_ne!(o.as_str(), "*");
                    prop_assert!(!o.ends_with('/'));
                    prop_assert_eq!(o.trim(), o.as_str());
                }
                // Reparsing the parsed list gives the same list.
                prop_assert_eq!(Origins::parse(&list.join(",")), Origins::List(list.clone()));
            }
        }
    }

    #[test]
    fn origins_list_round_trips(list in prop::collection::vec(arb_origin(), 0..5), slashes in prop::collection::vec(0usize..3, 5), sep in "[ ]{0,2},[ ]{0,2}") {
        let raw = list.iter().zip(&slashes).map(|(o, n)| format!("{o}{}", "/".repeat(*n))).collect::<Vec<_>>().join(&sep);
        prop_assert_eq!(Origins::parse(&raw), Origins::List(list));
    }

    #[test]
    fn a_star_anywhere_means_any(list in prop::collection::vec(arb_origin(), 0..4), at in any::<usize>()) {
        let mut list = list;
        let at = at % (list.len() + 1);
        list.insert(at, " * ".into());
        prop_assert_eq!(Origins::parse(&list.join(",")), Origins::Any);
    }

    #[test]
    fn allowed_origin_is_listed_or_star(raw in any::<String>(), origin in prop::option::of(any::<String>())) {
        let origins = Origins::parse(&raw);
        let allowed = cors::allowed_origin(&origins, origin.as_deref());
        match &origins {
            Origins::Any => prop_assert_eq!(allowed.as_deref(), Some("*")),
            Origins::List(list) => if let Some(a) = &allowed {
                prop_assert!(list.contains(a));
                prop_assert_eq!(a.as_str(), origin.as_deref().unwrap().trim_end_matches('/'));
            }
        }
        let headers = cors::response_headers(&origins, origin.as_deref());
        let acao = headers.iter().find(|(k, _)| *k == "Access-Control-Allow-Origin").map(|(_, v)| v.clone());
        prop_assert_eq!(acao, allowed);
        prop_assert_eq!(headers.iter().any(|(k, v)| *k == "Vary" && v == "Origin"), matches!(origins, Origins::List(_)));
    }

    #[test]
    fn listed_origins_are_echoed_and_others_refused(list in prop::collection::vec(arb_origin(), 1..5), pick in any::<usize>(), slashes in 0usize..3, stranger in arb_origin()) {
        let origins = Origins::parse(&list.join(","));
        let chosen = &list[pick % list.len()];
        let request = format!("{chosen}{}", "/".repeat(slashes));
        let echoed = cors::allowed_origin(&origins, Some(&request));
        prop_assert_eq!(echoed.as_deref(), Some(chosen.as_str()));
        prop_assert_eq!(cors::allowed_origin(&origins, None), None);
        if !list.contains(&stranger) {
            prop_assert_eq!(cors::allowed_origin(&origins, Some(&stranger)), None);
        }
        // A listed origin as a prefix of another, or another's parent domain, is not it.
        let scheme_end = chosen.find("://").unwrap() + 3;
        for lookalike in [format!("{chosen}.evil.test"), format!("{}evil.{}", &chosen[..scheme_end], &chosen[scheme_end..]), chosen.to_uppercase()] {
            if !list.contains(&lookalike) {
                prop_assert_eq!(cors::allowed_origin(&origins, Some(&lookalike)), None);
            }
        }
    }

    #[test]
    fn config_from_lookup_never_panics_and_keeps_its_invariants(
        vars in prop::collection::hash_map(prop::sample::select(CONFIG_VARS.to_vec()), any::<String>(), 0..20),
        with_base in any::<bool>(),
    ) {
        let mut env: HashMap<String, String> = if with_base { base_env() } else { HashMap::new() };
        env.extend(vars.into_iter().map(|(k, v)| (k.to_string(), v)));
        match load(&env) {
            Ok(c) => {
                prop_assert!(!c.postgrest_url.ends_with('/'));
                for secret in [&c.anon_key, &c.service_key, &c.jwt_secret].map(|s| s.expose()) {
                    prop_assert!(!secret.is_empty());
                    prop_assert_eq!(secret.trim(), secret);
                }
                prop_assert!(c.session_ttl_secs >= 60);
                prop_assert!(c.refresh_ttl_days >= 1);
                prop_assert!(c.runner_max_attempts >= 1);
                prop_assert!(c.runner_retry_base_ms >= 1);
                if let Some(f) = &c.functions_url { prop_assert!(!f.ends_with('/')); }
                if let Ok(p) = c.privy() { prop_assert!(!p.app_id.is_empty()); }
            }
            Err(e) => prop_assert!(matches!(e, ApiError::Misconfigured { .. }), "{:?}", e),
        }
    }

    #[test]
    #[ignore = "bug: a POSTGREST_URL or SUPABASE_URL of only slashes is accepted"]
    fn config_postgrest_url_is_never_empty(url in "[ /]{1,4}", which in prop_oneof![Just("POSTGREST_URL"), Just("SUPABASE_URL")]) {
        let mut env = base_env();
        env.insert(which.to_string(), url);
        if let Ok(c) = load(&env) {
            prop_assert!(url::Url::parse(&c.postgrest_url).is_ok(), "postgrest_url {:?}", c.postgrest_url);
        }
    }

    #[test]
    fn config_numbers_are_parsed_clamped_or_named(pick in 0usize..NUMBERS.len(), n in any::<i64>(), before in pad(), after in pad()) {
        let (name, min, _) = NUMBERS[pick];
        let mut env = base_env();
        env.insert(name.to_string(), format!("{before}{n}{after}"));
        match load(&env) {
            Ok(c) => {
                prop_assert!(n >= 0);
                prop_assert_eq!(number_of(&c, name), n.clamp(min, max_of(name)));
            }
            Err(e) => {
                prop_assert!(n < 0);
                prop_assert_eq!(e, ApiError::Misconfigured { variable: name });
            }
        }
    }

    #[test]
    fn config_non_numbers_are_named(pick in 0usize..NUMBERS.len(), junk in "[^0-9 \t\n\r]{1,10}|[0-9]{1,5}[.,a-z][0-9]{0,3}") {
        let (name, _, default) = NUMBERS[pick];
        let mut env = base_env();
        env.insert(name.to_string(), junk.clone());
        match load(&env) {
            // Blank after trimming (e.g. non-breaking spaces) is "unset".
            Ok(c) => { prop_assert!(junk.trim().is_empty()); prop_assert_eq!(number_of(&c, name), default); }
            Err(e) => prop_assert_eq!(e, ApiError::Misconfigured { variable: name }),
        }
    }

    #[test]
    fn config_default_provider_follows_provider_parse(raw in any::<String>()) {
        let mut env = base_env();
        env.insert("DEFAULT_PROVIDER".into(), raw.clone());
        match (load(&env), Provider::parse(&raw)) {
            (Ok(c), Some(p)) => prop_assert_eq!(c.default_provider, p),
            (Ok(c), None) => { prop_assert!(raw.trim().is_empty()); prop_assert_eq!(c.default_provider, Provider::Aws); }
            (Err(e), None) => prop_assert_eq!(e, ApiError::Misconfigured { variable: "DEFAULT_PROVIDER" }),
            (Err(e), Some(_)) => prop_assert!(false, "{:?}", e),
        }
    }

    #[test]
    fn config_required_variables_are_named(missing in prop::sample::select(vec!["SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_JWT_SECRET", "SUPABASE_URL"]), blank in prop::option::of(pad())) {
        let mut env = base_env();
        match blank {
            Some(b) => { env.insert(missing.to_string(), b); }
            None => { env.remove(missing); }
        }
        prop_assert_eq!(load(&env).unwrap_err(), ApiError::Misconfigured { variable: missing });
    }

    #[test]
    fn config_privy_pem_escapes_become_newlines(body in "[A-Za-z0-9+/]{1,40}", app in "[a-z0-9]{1,20}") {
        let mut env = base_env();
        env.insert("PRIVY_APP_ID".into(), app.clone());
        env.insert("PRIVY_VERIFICATION_KEY".into(), format!("-----BEGIN PUBLIC KEY-----\\n{body}\\n-----END PUBLIC KEY-----"));
        env.insert("PRIVY_JWKS_URL".into(), "https://example.test/jwks".into());
        let p = load(&env).unwrap().privy().unwrap();
        prop_assert_eq!(p.app_id, app);
        prop_assert_eq!(p.key, PrivyKeySource::Pem(format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----")));
    }
}

// ---------------------------------------------------------------------------------------
// Nesting depth of raw bodies (request::nesting_depth, MAX_BODY_DEPTH)
// ---------------------------------------------------------------------------------------

/// Strings that are mostly the characters a depth scanner must not be fooled by.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\\[\\]{}\"\\\\a :,]{0,12}"]
}

fn arb_tricky_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), tricky_string().prop_map(Value::String)];
    leaf.prop_recursive(8, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Byte soup made of JSON's structural tokens: deep, shallow, valid or not.
fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec!["[", "]", "{", "}", "\"", "\\", "\\\"", ",", ":", "1", "\"k\":", " ", "null"]);
    prop::collection::vec(token, 0..200).prop_map(|t| t.concat().into_bytes())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nesting_depth_of_json_text_is_its_depth(v in arb_tricky_json(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        prop_assert_eq!(nesting_depth(text.as_bytes()), json_depth(&v), "{}", text);
    }

    #[test]
    fn nesting_depth_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), soup in token_soup()) {
        let _ = nesting_depth(&bytes);
        let _ = nesting_depth(&soup);
    }

    /// Whatever the bytes, a body that parses is never deeper than the limit.
    #[test]
    fn parsed_bodies_are_never_deeper_than_the_limit(soup in token_soup(), prefix in prop::sample::select(vec!["", "{\"k\":", "[", "\"", "\\"])) {
        let bytes = [prefix.as_bytes(), &soup].concat();
        match parse_json::<Value>(&bytes) {
            Ok(v) => prop_assert!(json_depth(&v) <= MAX_BODY_DEPTH),
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }

    #[test]
    fn deep_bodies_are_refused_whatever_the_target_type(d in (MAX_BODY_DEPTH + 1)..200, arrays in prop::collection::vec(any::<bool>(), 200), name in NAME) {
        let body = json!({ "name": name, "configuration": nested(d - 1, &arrays) });
        prop_assert_eq!(depth(&body), d);
        let bytes = body.to_string().into_bytes();
        for e in [
            parse_json::<Value>(&bytes).err(),
            parse_json::<Empty>(&bytes).err(),
            parse_json::<CreateMachine>(&bytes).err(),
            parse_json::<MachinePatch>(&bytes).err(),
        ] {
            prop_assert!(e.is_some(), "depth {} accepted", d);
            let e = e.unwrap();
            prop_assert_eq!(validation_field(&e), Some("body"), "{:?}", e);
        }
    }

    /// Brackets inside strings do not count: a shallow body full of them is accepted.
    #[test]
    fn brackets_in_strings_do_not_count(n in 33usize..500, quote_escapes in any::<bool>()) {
        let noise = if quote_escapes { "[{\\\"".repeat(n) } else { "[".repeat(n) };
        let body = json!({ "k": noise });
        prop_assert_eq!(nesting_depth(body.to_string().as_bytes()), 1);
        prop_assert_eq!(parse_json::<Value>(body.to_string().as_bytes()).ok(), Some(body));
    }
}

// ---------------------------------------------------------------------------------------
// Wrongly-typed enum values: well-formed JSON, so a validation error naming the field
// ---------------------------------------------------------------------------------------

fn arb_wrong_enum_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        prop::collection::vec(any::<String>().prop_map(Value::String), 0..3).prop_map(Value::Array),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// `{"tier": 5}` is valid JSON with a wrong value, not "invalid JSON". serde_json
    /// reports a non-string enum as a syntax error, which parse_json maps to InvalidJson.
    #[test]
    fn wrongly_typed_enums_are_validation_errors(
        field in prop::sample::select(vec!["tier", "provider"]),
        bad in arb_wrong_enum_value(),
        name in NAME,
        patch in any::<bool>(),
    ) {
        let e = if patch && field == "tier" {
            parse_json::<MachinePatch>(json!({ field: bad }).to_string().as_bytes()).err()
        } else {
            parse_json::<CreateMachine>(json!({ "name": name, field: bad }).to_string().as_bytes()).err()
        };
        prop_assert!(e.is_some());
        let e = e.unwrap();
        prop_assert_eq!(validation_field(&e), Some(field), "{:?}", e);
    }

    /// Today's behaviour, kept green: still a 400, never accepted.
    #[test]
    fn wrongly_typed_enums_are_refused_with_400(field in prop::sample::select(vec!["tier", "provider"]), bad in arb_wrong_enum_value(), name in NAME) {
        let e = parse_json::<CreateMachine>(json!({ "name": name, field: bad }).to_string().as_bytes()).err();
        prop_assert!(e.is_some());
        prop_assert_eq!(e.unwrap().status(), 400);
    }
}

// ---------------------------------------------------------------------------------------
// AllowedImages (ALLOWED_IMAGES) and the other newer Config fields
// ---------------------------------------------------------------------------------------

fn arb_allowed_pairs() -> impl Strategy<Value = Vec<(usize, String)>> {
    prop::collection::vec((0usize..3, "[A-Za-z0-9._:/@-]{1,30}"), 1..8)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn allowed_images_parse_never_panics(raw in any::<String>(), provider in 0usize..3, image in any::<String>()) {
        if let Some(list) = AllowedImages::parse(&raw) {
            let p = PROVIDERS[provider].1;
            prop_assert_eq!(list.allows(p, &image), list.for_provider(p).contains(&image.as_str()));
        }
    }

    #[test]
    fn allowed_images_round_trip(pairs in arb_allowed_pairs(), mask in any::<u64>(), sep in "[ ]{0,2},[ ]{0,2}", probe in "[A-Za-z0-9._:/@-]{1,30}") {
        let raw = pairs
            .iter()
            .map(|(p, i)| format!("{}:{i}", recase(PROVIDERS[*p].0, mask)))
            .collect::<Vec<_>>()
            .join(&sep);
        let list = AllowedImages::parse(&raw);
        prop_assert!(list.is_some(), "{}", raw);
        let list = list.unwrap();
        for (p, i) in &pairs {
            prop_assert!(list.allows(PROVIDERS[*p].1, i));
        }
        for (name, p) in PROVIDERS {
            let _ = name;
            let expected: Vec<&str> = pairs.iter().filter(|(q, _)| PROVIDERS[*q].1 == p).map(|(_, i)| i.as_str()).collect();
            prop_assert_eq!(list.for_provider(p), expected);
            prop_assert_eq!(list.allows(p, &probe), pairs.iter().any(|(q, i)| PROVIDERS[*q].1 == p && *i == probe));
        }
    }

    #[test]
    fn allowed_images_with_one_bad_entry_are_refused(pairs in arb_allowed_pairs(), bad in prop_oneof![
        "[a-z]{1,12}:[a-z0-9.-]{1,12}".prop_filter("not a provider", |e| Provider::parse(e.split(':').next().unwrap()).is_none()),
        "[a-z0-9.-]{1,20}",
    ], at in any::<usize>()) {
        let mut entries: Vec<String> = pairs.iter().map(|(p, i)| format!("{}:{i}", PROVIDERS[*p].0)).collect();
        let at = at % (entries.len() + 1);
        entries.insert(at, bad);
        prop_assert_eq!(AllowedImages::parse(&entries.join(",")), None);
    }

    #[test]
    fn allowed_images_blank_is_refused(blank in "[ ,\t]{0,6}") {
        prop_assert_eq!(AllowedImages::parse(&blank), None);
    }

    #[test]
    fn default_allowed_images_are_valid_images(provider in 0usize..3) {
        let list = AllowedImages::parse(AllowedImages::DEFAULT).unwrap();
        let p = PROVIDERS[provider].1;
        prop_assert!(list.allows(p, Image::DEFAULT), "the default image must be allowed on {:?}", p);
        for image in list.for_provider(p) {
            prop_assert!(Image::parse(image).is_ok(), "{}", image);
        }
    }

    #[test]
    fn config_allowed_images_follow_their_parser(raw in prop_oneof![any::<String>(), arb_allowed_pairs().prop_map(|p| p.iter().map(|(p, i)| format!("{}:{i}", PROVIDERS[*p].0)).collect::<Vec<_>>().join(","))]) {
        let mut env = base_env();
        env.insert("ALLOWED_IMAGES".into(), raw.clone());
        let expected = if raw.trim().is_empty() { AllowedImages::parse(AllowedImages::DEFAULT) } else { AllowedImages::parse(raw.trim()) };
        match load(&env) {
            Ok(c) => prop_assert_eq!(Some(c.allowed_images), expected),
            Err(e) => {
                prop_assert_eq!(expected, None);
                prop_assert_eq!(e, ApiError::Misconfigured { variable: "ALLOWED_IMAGES" });
            }
        }
    }

    #[test]
    fn config_test_panic_only_on_exactly_one(raw in prop_oneof![Just("1".to_string()), Just(" 1 ".to_string()), any::<String>()]) {
        let mut env = base_env();
        env.insert("HANGAR_TEST_PANIC".into(), raw.clone());
        prop_assert_eq!(load(&env).unwrap().test_panic, raw.trim() == "1");
    }
}

// ---------------------------------------------------------------------------------------
// rate_limit::key: whom a limit counts
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// A user's key and a client address's key never meet, and two users never share one.
    #[test]
    fn rate_limit_keys_never_collide(a in arb_uuid(), b in arb_uuid(), ip in prop::option::of(any::<String>()), ip2 in prop::option::of(any::<String>())) {
        let user = rate_limit::key(Some(a), ip.as_deref());
        prop_assert_eq!(&user, &format!("user:{a}"), "a user's key ignores the address");
        prop_assert_ne!(&user, &rate_limit::key(None, ip2.as_deref()));
        if a != b {
            prop_assert_ne!(&user, &rate_limit::key(Some(b), ip.as_deref()));
        }
        let anon = rate_limit::key(None, ip.as_deref());
        prop_assert!(anon.starts_with("ip:"), "{}", anon);
        if ip.as_deref().is_none_or(str::is_empty) {
            prop_assert_eq!(anon.as_str(), "ip:unknown");
        }
    }
}
