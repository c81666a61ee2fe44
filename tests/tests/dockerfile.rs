//! The deployment files: the Dockerfile (built for real when a Docker
//! daemon is reachable), deploy/'s compose file and systemd unit, and the
//! configs they ship, checked by envoi itself.

use std::process::Command;

use envoi_tests::{check_config, envoi_bin, temp_dir, workspace_root};

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap()
}

/// `envoi check-config` accepts `text`.
fn config_is_valid(name: &str, text: &str) {
    let dir = temp_dir("deploy-config");
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn dockerfile_caches_dependencies_checks_health_and_keeps_the_key_apart() {
    let text = read("Dockerfile");
    let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "a build stage and a run stage");
    // Dependencies are cooked before the sources are copied in.
    let cook = text
        .find("cargo chef cook --release")
        .expect("a dependency layer");
    let sources = text.rfind("COPY . .").unwrap();
    assert!(
        cook < sources,
        "dependencies build before the sources arrive"
    );
    assert!(text.contains("cargo build --release -p gateway --bin envoi"));
    assert!(text.contains("COPY --from=build"));
    assert!(text.contains("ENTRYPOINT [\"envoi\"]"));
    assert!(text.contains("USER envoi"), "runs unprivileged");
    assert!(
        text.contains("CMD [\"envoi\", \"health\""),
        "a HEALTHCHECK by the binary itself"
    );
    assert!(text.contains("VOLUME [\"/var/lib/envoi\", \"/var/lib/envoi-key\"]"));
    assert!(text.contains("ENV ENVOI_MASTER_KEY_FILE=/var/lib/envoi-key/"));
    // Only the ports its config opens.
    let expose: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(expose, ["8080", "2587"]);
    assert!(
        text.contains(r#"listen = "0.0.0.0:8080""#) && text.contains(r#"listen = "0.0.0.0:2587""#)
    );
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target"));

    let daemon = Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !daemon {
        eprintln!("skipping the image build: no Docker daemon here");
        return;
    }
    let tag = "envoi-test:latest";
    let status = Command::new("docker")
        .args(["build", "-q", "-t", tag, "."])
        .current_dir(workspace_root())
        .status()
        .unwrap();
    assert!(status.success(), "docker build failed");
    let out = Command::new("docker")
        .args(["run", "--rm", tag, "--version"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("envoi"));
}

#[test]
fn the_compose_file_runs_two_nodes_on_postgresql_with_a_valid_config() {
    let compose = read("deploy/docker-compose.yml");
    // Parsed by a YAML parser (PyYAML), merge keys resolved.
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, yaml, json; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(compose.as_bytes())?;
            c.wait_with_output()
        });
    match out {
        Ok(out) if out.status.success() => {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let services = doc["services"].as_object().unwrap();
            assert!(services.contains_key("postgres"));
            for node in ["envoi1", "envoi2"] {
                let s = &services[node];
                assert_eq!(s["healthcheck"]["test"][1], "envoi", "{node}");
                assert_eq!(s["depends_on"]["postgres"]["condition"], "service_healthy");
                assert!(s["environment"]["ENVOI_MASTER_KEY"].is_string());
            }
            assert_ne!(
                services["envoi1"]["hostname"],
                services["envoi2"]["hostname"]
            );
        }
        _ => eprintln!("skipping the YAML parse: python3 with PyYAML is not here"),
    }
    config_is_valid("envoi-cluster.toml", &read("deploy/envoi-cluster.toml"));
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = read("deploy/envoi.service");
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=envoi",
        "NoNewPrivileges=yes",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ExecStart=/usr/local/bin/envoi serve --config /etc/envoi/envoi.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    config_is_valid("envoi.toml", &read("deploy/envoi.toml"));
    let have = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("skipping systemd-analyze verify: not installed");
        return;
    }
    // Verified with the binary under test in place of /usr/local/bin/envoi.
    let dir = temp_dir("unit");
    let path = dir.join("envoi.service");
    let unit = unit.replace("/usr/local/bin/envoi", envoi_bin().to_str().unwrap());
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Only complaints about this unit count (the host's own units may
    // have theirs).
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("envoi.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
