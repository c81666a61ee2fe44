use super::*;

#[test]
fn a_record_is_read_with_its_defaults() {
    let r = Record::parse("v=DMARC1; p=none; rua=mailto:dmarc@envoi.test").unwrap();
    assert_eq!(r.p, Policy::None);
    assert_eq!((r.sp, r.pct), (None, 100));
    assert_eq!((r.adkim, r.aspf), (Mode::Relaxed, Mode::Relaxed));
    assert_eq!(r.rua, ["mailto:dmarc@envoi.test"]);
}

#[test]
fn every_tag_of_the_guide_s_example_is_read() {
    let r = Record::parse("v=DMARC1; p=quarantine; rua=mailto:a@x.test, mailto:b@y.test; ruf=mailto:f@x.test; fo=1; adkim=s; aspf=r; rf=afrf; pct=10; sp=none;").unwrap();
    assert_eq!(r.p, Policy::Quarantine);
    assert_eq!(r.sp, Some(Policy::None));
    assert_eq!(r.pct, 10);
    assert_eq!((r.adkim, r.aspf), (Mode::Strict, Mode::Relaxed));
    assert_eq!(r.rua, ["mailto:a@x.test", "mailto:b@y.test"]);
    assert_eq!(r.ruf, ["mailto:f@x.test"]);
}

#[test]
fn a_record_must_start_with_its_version() {
    assert_eq!(
        Record::parse("p=reject; v=DMARC1"),
        Err(RecordError::NotDmarc)
    );
    assert_eq!(Record::parse("v=spf1 -all"), Err(RecordError::NotDmarc));
}

#[test]
fn without_a_valid_policy_rua_makes_it_none_and_nothing_makes_it_void() {
    let r = Record::parse("v=DMARC1; p=block; rua=mailto:a@x.test").unwrap();
    assert_eq!(r.p, Policy::None);
    assert_eq!(
        Record::parse("v=DMARC1; p=block"),
        Err(RecordError::NoPolicy)
    );
}

#[test]
fn invalid_optional_values_fall_back_to_their_defaults() {
    let r = Record::parse("v=DMARC1; p=reject; pct=250; adkim=x; aspf=; sp=maybe").unwrap();
    assert_eq!(
        (r.pct, r.adkim, r.aspf, r.sp),
        (100, Mode::Relaxed, Mode::Relaxed, None)
    );
}

#[test]
fn organizational_domains_come_from_the_public_suffix_list() {
    assert_eq!(
        organizational_domain("mail.shop.example.co.uk"),
        "example.co.uk"
    );
    assert_eq!(organizational_domain("MG.Shop.Test."), "shop.test");
    assert_eq!(organizational_domain("news.shop.com"), "shop.com");
}

#[test]
fn relaxed_alignment_takes_subdomains_strict_does_not() {
    assert!(aligned(Mode::Relaxed, "shop.com", "mg.shop.com"));
    assert!(aligned(Mode::Relaxed, "news.shop.com", "bounce.shop.com"));
    assert!(!aligned(Mode::Relaxed, "shop.com", "shop.net"));
    assert!(
        !aligned(Mode::Relaxed, "a.co.uk", "b.co.uk"),
        "a public suffix is not an organisation"
    );
    assert!(aligned(Mode::Strict, "shop.com", "SHOP.com"));
    assert!(!aligned(Mode::Strict, "shop.com", "mg.shop.com"));
}

#[test]
fn envoi_mail_passes_by_dkim_and_spf_when_the_return_path_is_in_the_domain() {
    let relaxed = Record::parse("v=DMARC1; p=reject").unwrap();
    let a = envoi_alignment(&relaxed, "shop.com", "shop.com", "bounce.shop.com");
    assert_eq!(
        a,
        Alignment {
            dkim: true,
            spf: true
        }
    );
    // The global bounce domain: only DKIM aligns, which is enough.
    let a = envoi_alignment(&relaxed, "shop.com", "shop.com", "bounces.envoi.net");
    assert_eq!(
        a,
        Alignment {
            dkim: true,
            spf: false
        }
    );
    assert!(a.pass());
    // Strict: a From in a subdomain of the sending domain fails both.
    let strict = Record::parse("v=DMARC1; p=reject; adkim=s; aspf=s").unwrap();
    let a = envoi_alignment(&strict, "news.shop.com", "shop.com", "bounce.shop.com");
    assert!(!a.pass());
}

#[test]
fn bimi_needs_quarantine_or_reject_at_one_hundred_percent() {
    let r = |t| Record::parse(t).unwrap();
    assert!(bimi_allowed(&r("v=DMARC1; p=quarantine")).is_ok());
    assert!(bimi_allowed(&r("v=DMARC1; p=reject; pct=100")).is_ok());
    assert!(bimi_allowed(&r("v=DMARC1; p=none"))
        .unwrap_err()
        .contains("p=none"));
    assert!(bimi_allowed(&r("v=DMARC1; p=reject; pct=50"))
        .unwrap_err()
        .contains("pct=50"));
}

#[test]
fn the_ramp_is_the_guide_s_and_steps_read_as_records_say_them() {
    let names: Vec<String> = RAMP.iter().map(Step::to_string).collect();
    assert_eq!(
        names,
        [
            "none",
            "quarantine; pct=5",
            "quarantine; pct=25",
            "quarantine; pct=50",
            "quarantine",
            "reject; pct=5",
            "reject; pct=25",
            "reject; pct=50",
            "reject"
        ]
    );
}

#[test]
fn a_record_off_the_ramp_stands_at_the_step_below_it() {
    let step = |t| Record::parse(t).unwrap().step();
    assert_eq!(
        step("v=DMARC1; p=quarantine; pct=10"),
        Step::new(Policy::Quarantine, 5)
    );
    assert_eq!(
        step("v=DMARC1; p=reject; pct=1"),
        Step::new(Policy::Quarantine, 100)
    );
    assert_eq!(
        step("v=DMARC1; p=none; pct=30"),
        Step::new(Policy::None, 100)
    );
    assert_eq!(
        step("v=DMARC1; p=quarantine; pct=10").next(),
        Some(Step::new(Policy::Quarantine, 25))
    );
}

fn history(days: i64, messages: u64, passed: u64, failing: &[&str]) -> StepHistory {
    StepHistory {
        days_at_step: days,
        messages,
        passed,
        failing_sources: failing.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn after_fourteen_clean_days_every_step_of_the_guide_leads_to_the_next() {
    for pair in RAMP.windows(2) {
        let a = advise(pair[0], &history(14, 10_000, 9_960, &[]));
        assert_eq!(a.next, Some(pair[1]), "from {}", pair[0]);
        assert_eq!(a.in_days, 0);
        assert!(a.because.starts_with("99.6 % of 14 days"), "{}", a.because);
    }
}

#[test]
fn a_clean_step_younger_than_two_weeks_says_when() {
    let a = advise(RAMP[2], &history(9, 5_000, 5_000, &[]));
    assert_eq!(a.next, Some(RAMP[3]));
    assert_eq!(a.in_days, 5);
}

#[test]
fn at_ninety_seven_percent_it_refuses_to_tighten_and_names_what_fails() {
    let a = advise(
        RAMP[1],
        &history(14, 10_000, 9_700, &["192.0.2.7 (crm.example.net)"]),
    );
    assert_eq!(a.next, Some(RAMP[1]), "stays where it is");
    assert!(a.because.contains("97.0 %"), "{}", a.because);
    assert!(a.because.contains("98 %"), "{}", a.because);
    assert!(
        a.because
            .contains("1 source fails: 192.0.2.7 (crm.example.net)"),
        "{}",
        a.because
    );
}

#[test]
fn without_reports_it_waits_for_them() {
    let a = advise(RAMP[0], &history(20, 0, 0, &[]));
    assert_eq!(a.next, Some(RAMP[0]));
    assert!(a.because.contains("no aggregate reports"), "{}", a.because);
}

#[test]
fn at_reject_one_hundred_percent_the_ramp_is_complete() {
    let a = advise(RAMP[8], &history(30, 1_000, 1_000, &[]));
    assert_eq!(a.next, None);
    assert!(a.because.contains("complete"), "{}", a.because);
}

#[test]
fn a_step_s_history_is_the_newest_run_of_reports_that_saw_it() {
    let day = 86_400;
    let now = 100 * day;
    let q25 = Step::new(Policy::Quarantine, 25);
    let q5 = Step::new(Policy::Quarantine, 5);
    let period = |step, from: i64, n, ok| Period {
        step,
        begin: now - from * day,
        end: now - (from - 1) * day,
        messages: n,
        passed: ok,
    };
    let reports = [
        period(q25, 1, 100, 100),
        period(q25, 15, 900, 896),
        period(q5, 16, 5_000, 10), // before the step: not counted
        period(q25, 30, 7, 7),     // an older run at the same step: not counted
    ];
    let (h, since) = step_history(q25, &reports, now);
    assert_eq!(since, Some(now - 15 * day));
    assert_eq!((h.days_at_step, h.messages, h.passed), (15, 1_000, 996));
    let (h, since) = step_history(RAMP[3], &reports, now);
    assert_eq!((h.messages, since), (0, None));
}

#[test]
fn failing_mail_from_others_over_the_threshold_is_spoofing_and_envoi_s_own_is_not() {
    let rows = [
        ("198.51.100.7", 8, false),
        ("198.51.100.7", 4, false), // 12 in all: over
        ("203.0.113.9", 9, false),  // under
        ("192.0.2.10", 500, false), // envoi itself
        ("192.0.2.99", 800, true),  // passes
    ];
    let got = spoofing_sources(rows, |ip| *ip == "192.0.2.10");
    assert_eq!(got, [("198.51.100.7", 12)]);
}
