//! `envoi serve`: start every listener and stop them cleanly on SIGTERM.

use tokio::net::TcpListener;

use crate::app::App;
use crate::cluster::singleton::Job;
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] crate::app::StartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("delivery cannot start: {0}")]
    Delivery(String),
    #[error(transparent)]
    Smtp(crate::net::smtp_server::SmtpError),
}

pub async fn run(config: Config) -> Result<(), ServeError> {
    crate::telemetry::install();
    // Everything that can fail on the config alone (ports, certificates,
    // resolver, CA file) comes first: a serve that cannot start changes
    // nothing in the store (a second serve on a taken port must not replace
    // the running one's admin key).
    let http_addr = config.http.listen;
    let listener = TcpListener::bind(http_addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: http_addr,
            source,
        })?;
    let smtp = crate::smtp::bind(&config).await.map_err(ServeError::Smtp)?;
    let inbound = crate::inbound::bind(&config)
        .await
        .map_err(ServeError::Smtp)?;
    let transport =
        crate::delivery::Deliverer::transport(&config.delivery).map_err(ServeError::Delivery)?;
    let mut listening = vec![
        ("http", listener.local_addr().unwrap_or(http_addr)),
        ("smtp", smtp.local_addr()),
    ];
    if let Some(inbound) = &inbound {
        listening.push(("inbound", inbound.local_addr()));
    }
    let (app, notes) = App::start(config).await?;
    let _ = app.listening.set(listening);
    if let Some(path) = &notes.new_master_key_file {
        tracing::warn!(
            path = %path.display(),
            "ENVOI_MASTER_KEY is not set: generated a master key and stored it there (mode 0600). \
             Back it up: DKIM keys and stored messages cannot be read without it."
        );
    }
    if let Some(key) = &notes.new_admin_key {
        // Printed once, on stderr, and never stored in clear.
        eprintln!("envoi: generated the account (admin) API key; it is shown only this once:\n\n    {key}\n");
        eprintln!("envoi: use it as the password of HTTP Basic auth with user \"api\". Set ENVOI_ADMIN_KEY to choose your own.");
    }
    tracing::info!(addr = %http_addr, store = %redact(&app.config.store.url), "HTTP API listening");
    if app.config.http.public_url.is_none() {
        tracing::warn!(
            "[http].public_url is not set: unsubscribe links in delivered mail point at http://{http_addr}, \
             which recipients cannot reach; set it to this server's public https address"
        );
    }
    let context = crate::delivery::Context {
        config: app.config.clone(),
        store: app.store.clone(),
        master_key: app.master_key.clone(),
        limits: app.limits.clone(),
        reputation: app.reputation.clone(),
        queue_wake: app.queue_wake.clone(),
        dkim_generation: app.dkim_generation.clone(),
        node: app.node.clone(),
    };
    let deliverer = crate::delivery::Deliverer::new(context, transport);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let submission = tokio::spawn(smtp.run(
        crate::smtp::Submission::new(app.clone()),
        app.smtp_inflight.clone(),
        stop_rx.clone(),
    ));
    let inbound = inbound.map(|s| {
        let handler = crate::inbound::Reports::new(app.clone());
        tokio::spawn(s.run(handler, app.smtp_inflight.clone(), stop_rx.clone()))
    });
    let worker = tokio::spawn(deliverer.run(stop_rx.clone()));
    let rotation = crate::dkim::rotation::Rotation {
        store: app.store.clone(),
        master_key: app.master_key.clone(),
        dns: app.config.delivery.clone(),
        every: app.config.dkim.rotation_check.0,
        dkim_generation: app.dkim_generation.clone(),
        runner: app.singleton(Job::DkimRotation),
    };
    let rotator = tokio::spawn(rotation.run(stop_rx.clone()));
    let assessor = {
        let (app, stop) = (app.clone(), stop_rx.clone());
        let runner = app.singleton(Job::Reputation);
        tokio::spawn(async move { app.reputation.run(runner, stop).await })
    };
    let webhooks = crate::webhooks::Context {
        store: app.store.clone(),
        master_key: app.master_key.clone(),
        config: app.config.webhooks.clone(),
        extra_ca_file: app.config.delivery.extra_ca_file.clone(),
    };
    let webhooks = tokio::spawn(crate::webhooks::run(
        webhooks,
        app.singleton(Job::Webhooks),
        stop_rx.clone(),
    ));
    let retention = tokio::spawn(crate::retention::run(
        app.store.clone(),
        crate::retention::Retention {
            events: app.config.events.retention.0,
            messages: app.config.events.message_retention.0,
        },
        app.singleton(Job::EventRetention),
        stop_rx.clone(),
    ));
    let heartbeat = tokio::spawn(app.node.clone().run(app.store.clone(), stop_rx));
    // Rate-limit state of keys back at full allowance is dropped now and
    // then (destination domains come and go).
    // Histogram samples are folded into their buckets every 5 s (the
    // exporter's recommended upkeep), so memory stays flat between scrapes.
    let tidy = {
        let app = app.clone();
        tokio::spawn(async move {
            for tick in 1u64.. {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                crate::telemetry::upkeep();
                if tick.is_multiple_of(12) {
                    app.limits.forget_idle();
                }
            }
        })
    };
    let router = crate::http::router(app.clone());
    crate::http::server::serve(listener, router, &app.config.http, shutdown_signal()).await;
    tracing::info!("HTTP API stopped; finishing SMTP sessions and deliveries in flight");
    let _ = stop_tx.send(true);
    let _ = submission.await;
    if let Some(inbound) = inbound {
        let _ = inbound.await;
    }
    let _ = worker.await;
    let _ = rotator.await;
    let _ = assessor.await;
    let _ = webhooks.await;
    let _ = retention.await;
    let _ = heartbeat.await;
    // Deliveries have stopped: what is still leased goes back now, so a
    // rolling restart loses no time waiting for this node's leases.
    app.node.leave(&app.store).await;
    tidy.abort();
    tracing::info!("closing the store");
    app.store.close().await;
    Ok(())
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: no new connections, finishing requests in flight");
}

/// A store URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
