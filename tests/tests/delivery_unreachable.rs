//! A destination whose MX hosts refuse connections is held: its mail is
//! deferred without connecting (or signing) for a while, as Postfix's
//! "delivery temporarily suspended", and goes out once it is back.

use std::net::Ipv4Addr;
use std::time::Duration;

use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::*;

const DOMAIN: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(60);

#[test]
fn an_unreachable_destination_is_held_then_served_when_it_is_back() {
    // Nothing listens on the MX port yet.
    let port = free_port();
    let dns = TestDns::start();
    dns.mx("dest.test", 10, "mx.dest.test");
    dns.a("mx.dest.test", Ipv4Addr::LOCALHOST);
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\nport = {port}\n{}\nhelo_name = \"envoi.test\"\nretry_schedule = [\"4s\"]\n",
            dns.config_line()
        ),
        ..Options::default()
    });
    dns.publish_dkim(&e.create_domain(DOMAIN));

    e.send(DOMAIN, "first@dest.test", &[]);
    let first = e.wait_event(DOMAIN, "event=failed&recipient=first@dest.test", WAIT);
    assert_eq!(first["severity"], "temporary", "{first}");
    // While held, the next messages are deferred at once, saying why.
    for i in 0..5 {
        e.send(DOMAIN, &format!("next{i}@dest.test"), &[]);
    }
    for i in 0..5 {
        let ev = e.wait_event(
            DOMAIN,
            &format!("event=failed&recipient=next{i}@dest.test"),
            WAIT,
        );
        assert_eq!(ev["severity"], "temporary");
        let text = ev["delivery-status"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains("temporarily suspended"), "{ev}");
    }
    assert!(
        e.stderr().contains("no MX host takes connections"),
        "{}",
        e.log_tail()
    );

    // Back: everything goes out at its next retry.
    let sink = Sink::start_on(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Script::default(),
    );
    sink.wait_for(6, WAIT);
    e.wait_event(DOMAIN, "event=delivered&recipient=next4@dest.test", WAIT);
    assert!(e.stderr().contains("destination reachable again"));
}
