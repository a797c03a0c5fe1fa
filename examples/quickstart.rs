//! # Quickstart: an audited axum + SeaORM app
//!
//! ```text
//! cargo run --example quickstart                      # SQLite file quickstart.db
//! cargo run --example quickstart -- --db postgres://postgres@127.0.0.1/test
//! cargo run --example quickstart -- --listen 127.0.0.1:8080 --trusted-proxy 10.0.0.0/8
//! ```
//!
//! A small user directory, audited twice over and tied together by one request id:
//! - `audit-tower`'s `AuditLayer` records each mutating request (and each read of a user,
//!   a "sensitive" route) with actor, client IP, request id, route, status and duration;
//! - `audit-seaorm`'s hooks record each row change with its old and new values, after the
//!   transaction commits (nothing on rollback).
//!
//! Both go to one hash chain in the same database (`audit_events`), which
//! `audit-trail verify` checks.
//!
//! Demo authentication: `Authorization: Bearer <user id>`. Seeded users: `admin` (admin),
//! `alice` and `bob` (users); their password is `demo`.

use audit_core::{Actor, Auditor, EventDraft, Outcome, scope};
use audit_seaorm::{AuditedDb, SqlStore};
use audit_tower::{AuditHandle, AuditLayer, Cidr};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use clap::Parser;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Database, EntityTrait, Schema, TransactionTrait};
use serde_json::{Value, json};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------
// 1. The entity. One line makes it audited: `audited!` replaces
//    `impl ActiveModelBehavior for ActiveModel {}`.
// ---------------------------------------------------------------------------------------

/// The `users` table.
pub mod users {
    use sea_orm::entity::prelude::*;

    /// A user of the directory.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        /// The user id (also their bearer token in this demo).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Display name.
        pub name: String,
        /// Email address.
        pub email: String,
        /// `admin` or `user`.
        pub role: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

// ---------------------------------------------------------------------------------------
// 2. Start-up: the audit store, the writer, the audited connection, the schema, the seed.
// ---------------------------------------------------------------------------------------

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(about = "An audited axum + SeaORM demo app")]
pub struct Args {
    /// Database URL (SQLite, PostgreSQL or MySQL); the audit trail is kept in it too.
    #[arg(long, default_value = "sqlite://quickstart.db?mode=rwc")]
    pub db: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// A reverse proxy whose X-Forwarded-For may be trusted (repeatable), e.g. 10.0.0.0/8.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<Cidr>,
}

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    db: AuditedDb,
}

/// Everything `main` starts, so that tests can start the same app.
pub struct Started {
    /// The router, ready to serve.
    pub router: Router,
    /// The audit writer (shut it down to flush).
    pub auditor: Auditor,
    /// The audited connection (flush it at shutdown, before the auditor).
    pub db: AuditedDb,
    /// The audit store (for checks).
    pub store: Arc<SqlStore>,
}

/// Connects, migrates, recovers the outbox, seeds the users and builds the router.
pub async fn start(db_url: &str, trusted_proxies: Vec<Cidr>) -> Result<Started, Box<dyn std::error::Error>> {
    let store = Arc::new(SqlStore::connect(db_url).await?);
    store.migrate().await?; // audit tables, indexes, append-only triggers (idempotent)
    let auditor = Auditor::builder(store.clone()).build();

    let db = AuditedDb::builder(Database::connect(db_url).await?, auditor.clone(), store.clone()).build();
    db.migrate_outbox().await?; // audited writes commit with their events in an outbox ...
    let recovery = db.recover_outbox().await?; // ... so what a crash left there is sealed now, exactly once
    for row in &recovery.unsealable {
        eprintln!("warning: outbox row {} cannot be sealed into the audit trail: {}", row.id, row.reason);
    }

    create_schema(&db).await?;
    scope::with_actor(Actor::system("quickstart-seed"), seed(&db)).await?;

    let audit = AuditLayer::new(auditor.clone())
        .with_sensitive_routes(["/users/{id}"]) // "who viewed this record?"
        .with_skipped_routes(["/health"])
        .with_trusted_proxies(trusted_proxies);
    Ok(Started { router: router(App { db: db.clone() }, audit), auditor, db, store })
}

async fn create_schema(db: &AuditedDb) -> Result<(), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let mut table = Schema::new(backend).create_table_from_entity(users::Entity);
    db.unaudited().execute(table.if_not_exists()).await?; // DDL is not an audited row change
    Ok(())
}

async fn seed(db: &AuditedDb) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    for (id, name, role) in [("admin", "Ada Admin", "admin"), ("alice", "Alice", "user"), ("bob", "Bob", "user")] {
        if users::Entity::find_by_id(id).one(&txn).await?.is_none() {
            let user = users::ActiveModel {
                id: Set(id.into()),
                name: Set(name.into()),
                email: Set(format!("{id}@example.com")),
                role: Set(role.into()),
            };
            user.insert(&txn).await?; // recorded as a `create` by the system actor
        }
    }
    txn.commit().await // returns once the events are durable
}

// ---------------------------------------------------------------------------------------
// 3. The router. Authentication runs inside the audit layer, so that refusals are recorded
//    and the actor it finds is bound to the request's events (HTTP and ORM alike).
// ---------------------------------------------------------------------------------------

/// The app's routes behind the audit layer.
pub fn router(app: App, audit: AuditLayer) -> Router {
    let users = Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user).put(update_user).delete(delete_user))
        .route_layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new()
        .route("/login", post(login))
        .route("/health", get(|| async { "ok" }))
        .merge(users)
        .layer(audit)
        .with_state(app)
}

/// The authenticated user.
#[derive(Clone)]
struct CurrentUser(users::Model);

impl CurrentUser {
    fn is_admin(&self) -> bool {
        self.0.role == "admin"
    }
}

/// `Authorization: Bearer <user id>`; missing or unknown → 401.
///
/// The audit handle is optional: `route_layer` runs this for every method of the routes,
/// also for those the routes do not have (their 405) and reads the layer does not audit
/// (`GET /users`), which have no handle; requiring it would answer them 500.
async fn authenticate(
    State(app): State<App>,
    audit: Option<AuditHandle>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = bearer(request.headers());
    let user = match &token {
        Some(id) if valid_id(id) => users::Entity::find_by_id(id.as_str()).one(&app.db).await,
        _ => Ok(None), // no token, or one no user id can be
    };
    match user {
        Ok(Some(user)) => {
            let actor = if user.role == "admin" { Actor::admin(&user.id) } else { Actor::user(&user.id) };
            if let Some(audit) = &audit {
                audit.set_actor(actor.with_auth("bearer"));
            }
            request.extensions_mut().insert(CurrentUser(user));
            next.run(request).await
        }
        Ok(None) => {
            if let Some(audit) = &audit {
                audit.set_reason(if token.is_some() { "unknown bearer token" } else { "no bearer token" });
            }
            (StatusCode::UNAUTHORIZED, Json(json!({"error": "send Authorization: Bearer <user id>"}))).into_response()
        }
        Err(e) => server_error(e),
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case, as HTTP
/// has it), trimmed. A token with bytes that are not visible ASCII was still sent: it is
/// returned (lossily decoded) for `valid_id` to refuse as no one's, not taken for a missing one.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = String::from_utf8_lossy(headers.get(header::AUTHORIZATION)?.as_bytes());
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

fn server_error(e: impl std::fmt::Display) -> Response {
    eprintln!("error: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "internal error"}))).into_response()
}

fn forbidden(audit: &AuditHandle, why: &str) -> Response {
    audit.set_reason(why);
    (StatusCode::FORBIDDEN, Json(json!({"error": why}))).into_response()
}

// ---------------------------------------------------------------------------------------
// 4. Handlers: ordinary SeaORM code on the audited connection.
// ---------------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct Login {
    user: String,
    password: String,
}

/// `POST /login {"user","password"}`: 200, or 401 and a `login_failed` event.
async fn login(State(app): State<App>, audit: AuditHandle, Json(login): Json<Login>) -> Response {
    // Looked up as sent (ids are at most 64 characters: a longer name is no one's); recorded
    // cut to 64 characters if it fails.
    let known = match valid_id(&login.user) {
        true => match users::Entity::find_by_id(login.user.clone()).one(&app.db).await {
            Ok(user) => user,
            Err(e) => return server_error(e),
        },
        false => None,
    };
    let claimed: String = login.user.chars().take(64).collect();
    let privileged = known.as_ref().is_some_and(|user| user.role == "admin");
    match known {
        Some(user) if login.password == "demo" => {
            let actor = if user.role == "admin" { Actor::admin(&user.id) } else { Actor::user(&user.id) };
            audit.set_actor(actor.with_auth("password"));
            Json(json!({"token": user.id})).into_response()
        }
        _ => {
            // A business event beside the HTTP one: what PCI DSS asks about failed logins. (An
            // empty name names no one: an actor needs an id.)
            let actor = if claimed.is_empty() { Actor::anonymous() } else { Actor::user(claimed.clone()) };
            let mut failed = EventDraft::new("login_failed")
                .actor(actor.with_auth("password"))
                .resource("users", claimed)
                .outcome(Outcome::Denied)
                .reason("bad user or password");
            // On a privileged account (the claimant is not authenticated, so the actor stays a
            // user): tagged, for `audit-trail report privileged --action login_failed`.
            if privileged {
                failed = failed.tag("privileged");
            }
            audit.add_event(failed);
            audit.set_reason("bad user or password");
            (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad user or password"}))).into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct NewUser {
    id: String,
    name: String,
    email: String,
    role: String,
}

/// A user id, as bearer tokens carry it: 1 to 64 visible ASCII characters (an id a header
/// cannot carry, or one with spaces that `bearer` trims, could never log in).
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

fn unprocessable(why: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"error": why}))).into_response()
}

/// `POST /users`: admins only → 201. Who may comes first, then what was sent (a refused
/// attempt is `denied` whatever its body).
async fn create_user(
    State(app): State<App>,
    Extension(me): Extension<CurrentUser>,
    audit: AuditHandle,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Response {
    if !me.is_admin() {
        return forbidden(&audit, "only admins create users");
    }
    let new = match body {
        Ok(Json(new)) => new,
        Err(rejection) => return rejection.into_response(),
    };
    if !valid_id(&new.id) {
        return unprocessable("id is 1 to 64 visible ASCII characters (it is the bearer token)");
    }
    if new.role != "admin" && new.role != "user" {
        return unprocessable("role is admin or user");
    }
    audit.set_resource("users", &new.id);
    let result = async {
        let txn = app.db.begin().await?;
        if users::Entity::find_by_id(new.id.clone()).one(&txn).await?.is_some() {
            return Ok(None); // dropped without commit: nothing written, nothing recorded
        }
        let user = users::ActiveModel {
            id: Set(new.id.clone()),
            name: Set(new.name),
            email: Set(new.email),
            role: Set(new.role),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?; // the `create` diff is durable when this returns
        Ok::<_, sea_orm::DbErr>(Some(user))
    }
    .await;
    match result {
        Ok(Some(user)) => (StatusCode::CREATED, Json(user)).into_response(),
        Ok(None) => (StatusCode::CONFLICT, Json(json!({"error": "user exists"}))).into_response(),
        // Created at the same time by another request (PostgreSQL and MySQL run the two
        // transactions side by side; SQLite one after the other).
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            (StatusCode::CONFLICT, Json(json!({"error": "user exists"}))).into_response()
        }
        Err(e) => server_error(e),
    }
}

/// `GET /users/{id}`: an audited read (the route is marked sensitive).
async fn get_user(State(app): State<App>, Path(id): Path<String>) -> Response {
    match users::Entity::find_by_id(id).one(&app.db).await {
        Ok(Some(user)) => Json(user).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => server_error(e),
    }
}

/// `PUT /users/{id}` with any of `name`, `email`, `role`: admins, or the user themself (who
/// may not change their own role). Who may comes first, then what was sent: an id that is
/// not UTF-8 (`/users/%FF`) is no one's, so a non-admin is refused it (`denied`), and only an
/// admin gets the path's `400`.
async fn update_user(
    State(app): State<App>,
    Extension(me): Extension<CurrentUser>,
    audit: AuditHandle,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let themself = matches!(&path, Ok(Path(id)) if *id == me.0.id);
    if !me.is_admin() && !themself {
        return forbidden(&audit, "users may only change themselves");
    }
    let id = match path {
        Ok(Path(id)) => id,
        Err(rejection) => return rejection.into_response(),
    };
    let changes = match body {
        Ok(Json(changes)) => changes,
        Err(rejection) => return rejection.into_response(),
    };
    if !me.is_admin() && changes.get("role").is_some() {
        return forbidden(&audit, "only admins change roles");
    }
    let Some(fields) = changes.as_object() else {
        return unprocessable("send a JSON object with any of name, email, role");
    };
    if let Some((field, _)) = fields.iter().find(|(field, _)| !["name", "email", "role"].contains(&field.as_str())) {
        return unprocessable(&format!("{field} cannot be changed: send any of name, email, role"));
    }
    if let Some((field, _)) = fields.iter().find(|(_, value)| !value.is_string()) {
        return unprocessable(&format!("{field} is a string"));
    }
    if changes.get("role").is_some_and(|role| role != "admin" && role != "user") {
        return unprocessable("role is admin or user");
    }
    let result = async {
        let txn = app.db.begin().await?;
        let Some(user) = users::Entity::find_by_id(id.clone()).one(&txn).await? else {
            return Ok(None);
        };
        let mut user: users::ActiveModel = user.into();
        for (field, column) in [("name", &mut user.name), ("email", &mut user.email), ("role", &mut user.role)] {
            if let Some(value) = changes.get(field).and_then(Value::as_str) {
                *column = Set(value.to_string());
            }
        }
        let user = user.update(&txn).await?; // recorded: only the columns that changed
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(Some(user))
    }
    .await;
    match result {
        Ok(Some(user)) => Json(user).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => server_error(e),
    }
}

/// `DELETE /users/{id}`: admins only → 204. Who may comes first, then the id in the path.
async fn delete_user(
    State(app): State<App>,
    Extension(me): Extension<CurrentUser>,
    audit: AuditHandle,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    if !me.is_admin() {
        return forbidden(&audit, "only admins delete users");
    }
    let id = match path {
        Ok(Path(id)) => id,
        Err(rejection) => return rejection.into_response(),
    };
    let result = async {
        let txn = app.db.begin().await?;
        let Some(user) = users::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(false);
        };
        let user: users::ActiveModel = user.into();
        user.delete(&txn).await?; // recorded with every column as `old`
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(true)
    }
    .await;
    match result {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => server_error(e),
    }
}

// ---------------------------------------------------------------------------------------
// 5. main: serve with the peer address (for the client IP), flush the trail on Ctrl-C.
// ---------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let Started { router, auditor, db, .. } = start(&args.db, args.trusted_proxies).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    // Not `println!`, which panics when stdout is closed (`quickstart | head -1`).
    let _ = writeln!(
        std::io::stdout(),
        "quickstart: serving {base}, audit trail in {db}\n\
         \n  try:\n\
         \x20   curl -i -X POST {base}/login -H 'content-type: application/json' -d '{{\"user\":\"alice\",\"password\":\"nope\"}}'\n\
         \x20   curl -i -X POST {base}/users -H 'authorization: Bearer admin' -H 'content-type: application/json' \\\n\
         \x20        -d '{{\"id\":\"carol\",\"name\":\"Carol\",\"email\":\"carol@example.com\",\"role\":\"user\"}}'\n\
         \x20   curl -i -X PUT {base}/users/carol -H 'authorization: Bearer carol' -H 'content-type: application/json' -d '{{\"email\":\"c@example.org\"}}'\n\
         \x20   curl -i {base}/users/carol -H 'authorization: Bearer bob'\n\
         \x20   curl -i -X DELETE {base}/users/carol -H 'authorization: Bearer bob'      # 403, recorded as denied\n\
         \x20   curl -i -X DELETE {base}/users/carol -H 'authorization: Bearer admin'\n\
         \n  then inspect the trail (Ctrl-C here first to flush, or in another terminal):\n\
         \x20   cargo run -q -p audit-cli -- verify --db '{db}'\n\
         \x20   cargo run -q -p audit-cli -- query --db '{db}' --resource-type users --resource-id carol\n\
         \x20   cargo run -q -p audit-cli -- report access --db '{db}' --resource-type users --resource-id carol\n\
         \x20   cargo run -q -p audit-cli -- report last-change --db '{db}' --resource-type users --resource-id carol\n",
        db = args.db
    );
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    db.flush().await?; // sealed outbox rows deleted, writes whose hook never came recorded
    auditor.shutdown().await; // everything queued is durable before we exit
    Ok(())
}
