//! `JwtAuth` against real tokens: each way a token can be forged, stale or misplaced is
//! refused with 401, and a good one gives its subject and topics.
#![cfg(feature = "jwt")]

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sse_core::{Principal, RejectionKind, Topic};
use sse_http::{jwt::JwtAuth, RequestHead};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("keys/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("keys/ec_public.pem");

fn claims(sub: &str) -> Value {
    json!({
        "sub": sub,
        "exp": get_current_timestamp() + 600,
        "subscribe": ["room:*", format!("private:{sub}")],
    })
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
    encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn bearer(auth: &JwtAuth, token: &str) -> Result<Option<Principal>, u16> {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    headers.insert("authorization", value);
    auth.authenticate(&RequestHead::new(&headers, "/", None))
        .map_err(|r| sse_http::status(r.kind()).as_u16())
}

/// The client id of the principal `auth` makes of `head`.
fn subject(auth: &JwtAuth, head: &RequestHead<'_>) -> String {
    let principal = auth.authenticate(head).expect("authenticated");
    principal.expect("a principal").id().to_string()
}

fn reason(auth: &JwtAuth, token: &str) -> String {
    auth.verify(token).unwrap_err().reason().to_owned()
}

#[test]
fn a_good_token_gives_its_subject_and_topics() {
    for (auth, token) in [
        (JwtAuth::hs256(SECRET).unwrap(), hs256(&claims("alice"))),
        (
            JwtAuth::rs256_pem(RSA_PUBLIC).unwrap(),
            rs256(&claims("alice")),
        ),
        (
            JwtAuth::es256_pem(EC_PUBLIC).unwrap(),
            es256(&claims("alice")),
        ),
    ] {
        let principal = bearer(&auth, &token).unwrap().unwrap();
        assert_eq!(principal.id().as_str(), "alice");
        let allows = |t: &str| principal.topics().allows(&Topic::new(t).unwrap());
        assert!(allows("room:x") && allows("private:alice"));
        assert!(!allows("private:bob") && !allows("news"));
    }
}

#[test]
fn token_sources_header_cookie_and_query_only_when_asked() {
    let token = hs256(&claims("alice"));
    let auth = JwtAuth::hs256(SECRET).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("cookie", format!("a=1; session={token}").parse().unwrap());
    let query = format!("token={token}");
    let head = RequestHead::new(&headers, "/", Some(&query));
    // Neither the cookie nor the query is read unless configured.
    assert_eq!(
        auth.authenticate(&head).unwrap_err().kind(),
        RejectionKind::Unauthenticated
    );
    let by_cookie = auth.clone().cookie("session");
    assert_eq!(subject(&by_cookie, &head), "alice");
    let empty = HeaderMap::new();
    let query_only = RequestHead::new(&empty, "/", Some(&query));
    assert!(by_cookie.authenticate(&query_only).is_err());
    let by_query = auth.clone().query_param_despite_logs("token");
    assert_eq!(subject(&by_query, &query_only), "alice");
    // The bearer header comes first.
    let mut both = headers.clone();
    let mallory = hs256(&claims("mallory"));
    both.insert(
        "authorization",
        format!("bearer {mallory}").parse().unwrap(),
    );
    let head = RequestHead::new(&both, "/", None);
    assert_eq!(subject(&by_cookie, &head), "mallory");
}

#[test]
fn a_missing_token_is_401_unless_anonymous_clients_are_let_in() {
    let headers = HeaderMap::new();
    let head = RequestHead::new(&headers, "/", None);
    let auth = JwtAuth::hs256(SECRET).unwrap();
    assert_eq!(
        auth.authenticate(&head).unwrap_err().kind(),
        RejectionKind::Unauthenticated
    );
    let open = auth.anonymous_without_token();
    assert_eq!(open.authenticate(&head), Ok(None));
    // A bad token is still refused, not taken as no token.
    assert_eq!(bearer(&open, "not.a.token"), Err(401));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let auth = JwtAuth::hs256(SECRET).unwrap();
    let now = get_current_timestamp();
    let mut expired = claims("alice");
    expired["exp"] = json!(now - 120);
    assert_eq!(reason(&auth, &hs256(&expired)), "token expired");
    let mut early = claims("alice");
    early["nbf"] = json!(now + 600);
    assert_eq!(reason(&auth, &hs256(&early)), "token not yet valid");
    let mut no_exp = claims("alice");
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        reason(&auth, &hs256(&no_exp)),
        "token lacks a required claim"
    );
    let mut no_sub = claims("alice");
    no_sub.as_object_mut().unwrap().remove("sub");
    assert_eq!(
        reason(&auth, &hs256(&no_sub)),
        "token lacks a required claim"
    );
}

#[test]
fn tampered_and_foreign_tokens_are_refused() {
    let auth = JwtAuth::hs256(SECRET).unwrap();
    // Mallory's valid token with its payload swapped for one naming alice.
    let mallory = hs256(&claims("mallory"));
    let parts: Vec<&str> = mallory.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64(&claims("alice")), parts[2]);
    assert_eq!(reason(&auth, &forged), "token signature invalid");
    // Signed with another secret.
    let other = encode(
        &Header::new(Algorithm::HS256),
        &claims("alice"),
        &EncodingKey::from_secret(b"another secret, also long enough").unwrap(),
    )
    .unwrap();
    assert_eq!(reason(&auth, &other), "token signature invalid");
    for garbage in ["", "a.b", "a.b.c", "...."] {
        assert_eq!(bearer(&auth, garbage), Err(401), "{garbage:?}");
    }
}

#[test]
fn alg_none_and_algorithm_confusion_are_refused() {
    // `alg: none` with no signature, against every kind of key.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("alice"))
    );
    for auth in [
        JwtAuth::hs256(SECRET).unwrap(),
        JwtAuth::rs256_pem(RSA_PUBLIC).unwrap(),
        JwtAuth::es256_pem(EC_PUBLIC).unwrap(),
    ] {
        assert_eq!(bearer(&auth, &none), Err(401));
    }
    // HS256 signed with the RSA public key as the secret: the classic confusion.
    let rsa = JwtAuth::rs256_pem(RSA_PUBLIC).unwrap();
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims("alice"),
        &EncodingKey::from_secret(RSA_PUBLIC).unwrap(),
    )
    .unwrap();
    assert_eq!(reason(&rsa, &confused), "token algorithm not accepted");
    // A good token of another algorithm than the one configured.
    let hs = JwtAuth::hs256(SECRET).unwrap();
    assert_eq!(
        reason(&hs, &rs256(&claims("alice"))),
        "token algorithm not accepted"
    );
    assert_eq!(
        reason(&rsa, &es256(&claims("alice"))),
        "token algorithm not accepted"
    );
}

#[test]
fn claims_that_are_not_a_principal_are_refused() {
    let auth = JwtAuth::hs256(SECRET).unwrap();
    let mut bad_sub = claims("alice");
    bad_sub["sub"] = json!("two words");
    assert_eq!(
        reason(&auth, &hs256(&bad_sub)),
        "token subject is not a client id"
    );
    let mut bad_topics = claims("alice");
    bad_topics["subscribe"] = json!("room:*");
    assert_eq!(
        reason(&auth, &hs256(&bad_topics)),
        "token topics are not a list"
    );
    bad_topics["subscribe"] = json!(["a,b"]);
    assert_eq!(
        reason(&auth, &hs256(&bad_topics)),
        "token topics are not topic patterns"
    );
    // No topics claim: broadcasts and direct messages only.
    let mut none = claims("alice");
    none.as_object_mut().unwrap().remove("subscribe");
    let p = auth.verify(&hs256(&none)).unwrap();
    assert!(p.topics().is_none());
    // Another claim name.
    let mut custom = claims("alice");
    custom["rooms"] = json!(["x"]);
    let p = auth.topics_claim("rooms").verify(&hs256(&custom)).unwrap();
    assert!(p.topics().allows(&Topic::new("x").unwrap()));
}
