//! The PostgreSQL connection: a `tokio_postgres` client on a thread of its
//! own running a current-thread runtime. The index's methods are
//! synchronous and are called from inside tokio runtimes, where blocking
//! on a future panics; so each call is a message to that thread, and its
//! answer comes back over a std channel the caller waits on.
//!
//! A connection that broke (the database restarted) is made again on the
//! next call, once per call. A transaction whose connection broke fails
//! as a whole with [`IndexError::Lost`] (transient): PostgreSQL rolled it
//! back, and none of its remaining statements run on a new connection.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::pg_connect::Connector;
use super::value::{Row, Value};
use super::IndexError;

/// The advisory lock of `TxKind::Immediate` transactions (any constant all
/// slimbox processes agree on; "slim" in ASCII).
const WRITE_LOCK: i64 = 0x736c_696d;

/// Prepared statements kept per connection at most (`list` builds its
/// statement from the filters given): past that they are all dropped and
/// prepared again as used.
const STATEMENTS: usize = 256;

enum Op {
    Execute(String, Vec<Value>),
    Query(String, Vec<Value>),
    /// A query whose rows go one at a time to the receiver of this sender.
    Stream(String, Vec<Value>, std_mpsc::SyncSender<Row>),
    Batch(String),
    Begin {
        lock: bool,
    },
    Commit,
    Rollback,
}

enum Reply {
    Count(u64),
    Rows(Vec<Row>),
}

struct Request {
    op: Op,
    reply: std_mpsc::SyncSender<Result<Reply, IndexError>>,
}

/// A PostgreSQL index connection; dropping it closes the connection and
/// ends its thread.
pub(crate) struct PgConn {
    requests: mpsc::UnboundedSender<Request>,
}

impl PgConn {
    /// Connects (the first connection is made before this returns, so a
    /// wrong url or password is reported at once).
    pub(super) fn connect(connector: Connector) -> Result<PgConn, IndexError> {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Request>();
        let (ready_tx, ready_rx) = std_mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("slimbox-pg".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(IndexError::Thread(e.to_string())));
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut worker = Worker {
                        connector,
                        client: None,
                        statements: HashMap::new(),
                        tx: TxState::None,
                    };
                    let first = worker.reconnect().await;
                    let ok = first.is_ok();
                    let _ = ready_tx.send(first);
                    if !ok {
                        return;
                    }
                    while let Some(req) = incoming.recv().await {
                        let answer = worker.handle(req.op).await;
                        let _ = req.reply.send(answer);
                    }
                });
            })
            .map_err(|e| IndexError::Thread(e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|e| IndexError::Thread(e.to_string()))??;
        Ok(PgConn { requests })
    }

    fn call(&self, op: Op) -> Result<Reply, IndexError> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        let gone = || IndexError::Thread("it ended".into());
        self.requests
            .send(Request { op, reply })
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    pub(super) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, IndexError> {
        match self.call(Op::Execute(sql.to_string(), params.to_vec()))? {
            Reply::Count(n) => Ok(n),
            Reply::Rows(r) => Ok(r.len() as u64),
        }
    }

    pub(super) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, IndexError> {
        match self.call(Op::Query(sql.to_string(), params.to_vec()))? {
            Reply::Rows(r) => Ok(r),
            Reply::Count(_) => Ok(Vec::new()),
        }
    }

    /// Runs one query and gives `f` its rows as they come (a bounded
    /// channel between: a million rows never sit in memory). `f` must not
    /// use this connection: it is busy until the last row.
    pub(super) fn for_each(
        &self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&mut Row) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        let (rows, incoming) = std_mpsc::sync_channel(256);
        let (reply, answer) = std_mpsc::sync_channel(1);
        let gone = || IndexError::Thread("it ended".into());
        let op = Op::Stream(sql.to_string(), params.to_vec(), rows);
        self.requests
            .send(Request { op, reply })
            .map_err(|_| gone())?;
        let mut failed = None;
        // Ends when the connection thread is done with the query.
        for mut row in incoming.iter() {
            if let Err(e) = f(&mut row) {
                failed = Some(e);
                break;
            }
        }
        // Stops the rest of the rows (if `f` failed).
        drop(incoming);
        let end = answer.recv().map_err(|_| gone())?;
        match failed {
            Some(e) => Err(e),
            None => end.map(|_| ()),
        }
    }

    pub(super) fn batch(&self, sql: &str) -> Result<(), IndexError> {
        self.call(Op::Batch(sql.to_string())).map(|_| ())
    }

    /// Runs `f` in a transaction (see [`super::db::Db::transaction`]);
    /// `lock`: take the shared write lock first.
    pub(super) fn transaction<T>(
        &self,
        lock: bool,
        f: impl FnOnce(&PgConn) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        self.call(Op::Begin { lock })?;
        match f(self) {
            Ok(v) => {
                self.call(Op::Commit)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.call(Op::Rollback);
                Err(e)
            }
        }
    }
}

#[derive(PartialEq, Eq)]
enum TxState {
    None,
    Open,
    /// The connection broke inside the transaction: everything until its
    /// end fails.
    Broken,
}

/// The connection thread's side.
struct Worker {
    connector: Connector,
    client: Option<Client>,
    /// Prepared statements of the current connection, by their text.
    statements: HashMap<String, Statement>,
    tx: TxState,
}

impl Worker {
    async fn reconnect(&mut self) -> Result<(), IndexError> {
        self.client = None;
        self.statements.clear();
        self.client = Some(self.connector.connect().await?);
        Ok(())
    }

    fn lost(&self, during: &'static str) -> IndexError {
        IndexError::Lost {
            host: self.connector.host.clone(),
            during,
        }
    }

    async fn handle(&mut self, op: Op) -> Result<Reply, IndexError> {
        const IN_TX: &str = " in the middle of a transaction, which was not applied";
        match op {
            Op::Begin { lock } => {
                if self.tx == TxState::Open {
                    // One left open by a caller that panicked.
                    let _ = self.run(&Op::Rollback).await;
                }
                self.tx = TxState::None;
                let out = self.run_once_again(&Op::Begin { lock }).await;
                if out.is_ok() {
                    self.tx = TxState::Open;
                }
                out
            }
            Op::Commit | Op::Rollback => {
                let state = std::mem::replace(&mut self.tx, TxState::None);
                match state {
                    TxState::None => Ok(Reply::Count(0)),
                    TxState::Broken if matches!(op, Op::Commit) => Err(self.lost(IN_TX)),
                    TxState::Broken => Ok(Reply::Count(0)),
                    TxState::Open => match self.run(&op).await {
                        Err(e) if is_closed(&e) => {
                            self.client = None;
                            Err(self.lost(IN_TX))
                        }
                        other => other,
                    },
                }
            }
            op => match self.tx {
                TxState::Broken => Err(self.lost(IN_TX)),
                TxState::Open => match self.run(&op).await {
                    Err(e) if is_closed(&e) => {
                        self.client = None;
                        self.tx = TxState::Broken;
                        Err(self.lost(IN_TX))
                    }
                    other => other,
                },
                TxState::None => self.run_once_again(&op).await,
            },
        }
    }

    /// Runs `op` outside a transaction, connecting first when the last
    /// connection broke; when it turns out to be broken only now, connects
    /// again and runs it once more.
    async fn run_once_again(&mut self, op: &Op) -> Result<Reply, IndexError> {
        let mut fresh = false;
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.reconnect().await?;
            fresh = true;
        }
        match self.run(op).await {
            // Lost: rows were given already, which a second run would
            // give again.
            Err(e) if is_closed(&e) && !fresh && !matches!(e, IndexError::Lost { .. }) => {
                self.reconnect().await?;
                self.run(op).await
            }
            Err(e) if is_closed(&e) => {
                self.client = None;
                Err(e)
            }
            other => other,
        }
    }

    /// Runs `op` on the current connection (never a new one: inside a
    /// transaction that would run the rest of it without the start).
    async fn run(&mut self, op: &Op) -> Result<Reply, IndexError> {
        let Some(client) = self.client.as_ref().filter(|c| !c.is_closed()) else {
            return Err(self.lost(""));
        };
        match op {
            Op::Stream(sql, params, rows) => {
                let st = prepared(client, &mut self.statements, sql).await?;
                let stream = client
                    .query_raw(&st, params.iter().map(|v| v as &(dyn ToSql + Sync)))
                    .await?;
                let mut stream = std::pin::pin!(stream);
                let mut sent = false;
                while let Some(row) = stream.next().await {
                    let row = match row {
                        Ok(row) => Row::from_pg(&row)?,
                        Err(e) if sent && e.is_closed() => {
                            return Err(self.lost(" while reading rows"))
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if rows.send(row).is_err() {
                        // The caller stopped reading.
                        break;
                    }
                    sent = true;
                }
                Ok(Reply::Count(0))
            }
            Op::Execute(sql, params) | Op::Query(sql, params) => {
                let st = prepared(client, &mut self.statements, sql).await?;
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                if matches!(op, Op::Execute(..)) {
                    Ok(Reply::Count(client.execute(&st, &refs).await?))
                } else {
                    let rows = client.query(&st, &refs).await?;
                    Ok(Reply::Rows(
                        rows.iter().map(Row::from_pg).collect::<Result<_, _>>()?,
                    ))
                }
            }
            Op::Batch(sql) => {
                client.batch_execute(sql).await?;
                Ok(Reply::Count(0))
            }
            Op::Begin { lock } => {
                client.batch_execute("BEGIN").await?;
                if *lock {
                    client
                        .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                        .await?;
                }
                Ok(Reply::Count(0))
            }
            Op::Commit => {
                client.batch_execute("COMMIT").await?;
                Ok(Reply::Count(0))
            }
            Op::Rollback => {
                client.batch_execute("ROLLBACK").await?;
                Ok(Reply::Count(0))
            }
        }
    }
}

/// `sql` prepared on `client`, from `cache` when it was before.
async fn prepared(
    client: &Client,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, IndexError> {
    if let Some(st) = cache.get(sql) {
        return Ok(st.clone());
    }
    if cache.len() >= STATEMENTS {
        cache.clear();
    }
    let st = client.prepare(sql).await?;
    cache.insert(sql.to_string(), st.clone());
    Ok(st)
}

/// The connection is gone (not: the statement was wrong): closed, or
/// ended by the server with a FATAL error (terminated, shutting down),
/// which may arrive as the answer to the next statement.
fn is_closed(e: &IndexError) -> bool {
    use tokio_postgres::error::Severity;
    match e {
        IndexError::Pg(e) => {
            e.is_closed()
                || e.as_db_error().is_some_and(|d| {
                    matches!(d.parsed_severity(), Some(Severity::Fatal | Severity::Panic))
                })
        }
        IndexError::Lost { .. } => true,
        _ => false,
    }
}
