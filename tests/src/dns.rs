//! A real DNS server on loopback (hickory-server, UDP and TCP), authoritative
//! for every name: what a test adds is answered, anything else is NXDOMAIN.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::rr::rdata::{A, MX, PTR, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;

pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    rt: tokio::runtime::Runtime,
    serial: std::sync::atomic::AtomicU32,
}

fn name(s: &str) -> Name {
    let fq = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&fq).unwrap_or_else(|e| panic!("bad DNS name {s:?}: {e}"))
}

impl TestDns {
    pub fn start() -> TestDns {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let root = Name::root();
        let mut zone =
            InMemoryZoneHandler::empty(root.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(name("ns.test"), name("admin.test"), 1, 3600, 600, 86400, 1);
        zone.upsert_mut(Record::from_rdata(root.clone(), 60, RData::SOA(soa)), 1);
        let zone = Arc::new(zone);
        let addr = rt.block_on(async {
            // UDP picks a free port; TCP wants the same number, which a
            // parallel test may hold: then try another.
            let (udp, tcp) = loop {
                let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                match tokio::net::TcpListener::bind(udp.local_addr().unwrap()).await {
                    Ok(tcp) => break (udp, tcp),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                    Err(e) => panic!("test DNS: {e}"),
                }
            };
            let addr = udp.local_addr().unwrap();
            let mut catalog = Catalog::new();
            catalog.upsert(
                LowerName::new(&root),
                vec![zone.clone() as Arc<dyn ZoneHandler>],
            );
            let mut server = Server::new(catalog);
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
            // The server runs for as long as the runtime does.
            tokio::spawn(async move {
                let _ = server.block_until_done().await;
            });
            addr
        });
        TestDns {
            addr,
            zone,
            rt,
            serial: 2.into(),
        }
    }

    fn add(&self, owner: &str, rdata: RData) {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rec = Record::from_rdata(name(owner), 60, rdata);
        assert!(self.rt.block_on(self.zone.upsert(rec, serial)));
    }

    /// An MX record (`exchange` "." makes a null MX, RFC 7505).
    pub fn mx(&self, domain: &str, preference: u16, exchange: &str) {
        let ex = if exchange == "." {
            Name::root()
        } else {
            name(exchange)
        };
        self.add(domain, RData::MX(MX::new(preference, ex)));
    }

    pub fn a(&self, host: &str, ip: Ipv4Addr) {
        self.add(host, RData::A(A(ip)));
    }

    /// The reverse name of `ip` (a PTR in in-addr.arpa).
    pub fn ptr(&self, ip: Ipv4Addr, host: &str) {
        let [a, b, c, d] = ip.octets();
        let owner = format!("{d}.{c}.{b}.{a}.in-addr.arpa");
        self.add(&owner, RData::PTR(PTR(name(host))));
    }

    /// A TXT record, split into 255-byte strings as DNS requires.
    pub fn txt(&self, owner: &str, value: &str) {
        let parts = value
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        self.add(owner, RData::TXT(TXT::new(parts)));
    }

    /// For `[delivery].nameservers` in a test config.
    /// Publishes the DKIM TXT records of a `POST /v4/domains` answer.
    pub fn publish_dkim(&self, created: &serde_json::Value) {
        for rec in created["sending_dns_records"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = rec["name"].as_str().unwrap_or_default();
            if rec["record_type"] == "TXT" && name.contains("._domainkey.") {
                self.txt(name, rec["value"].as_str().unwrap());
            }
        }
    }

    pub fn config_line(&self) -> String {
        format!("nameservers = [\"{}\"]", self.addr)
    }
}
