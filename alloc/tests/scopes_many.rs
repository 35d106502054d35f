//! Many heap tests in one binary, run in parallel by `cargo test` (or one
//! process each by `cargo nextest`): the clean ones pass, the leaky ones
//! fail naming the leaked type and the test's own line. Each leaky test
//! checks its own failure message, so that the binary passes as a whole.
//!
//! The tests are written out one by one, as users write them (a macro's
//! lines would be the macro's in the stacks): the line that calls the code
//! under test is the test's own line, which a leak's message must name.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use heapsnap::testing;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// What the leaky tests leave behind.
#[derive(Debug)]
#[allow(dead_code, reason = "held, never read")]
struct Leaked {
    id: usize,
    payload: Vec<u8>,
}

static KEPT: Mutex<Vec<Leaked>> = Mutex::new(Vec::new());
// Boxed on purpose: a registry of boxes is one of the ways tests leak.
#[allow(clippy::vec_box)]
static BOXED: Mutex<Vec<Box<Leaked>>> = Mutex::new(Vec::new());

/// Ordinary work that frees all it allocates; `k` varies the sizes.
#[inline(never)]
fn work(k: usize) -> usize {
    let names: Vec<String> = (0..k % 40 + 10).map(|i| format!("name-{i}-{k}")).collect();
    let mut by_len: HashMap<usize, Vec<&str>> = HashMap::new();
    for name in &names {
        by_len.entry(name.len()).or_default().push(name);
    }
    let ordered: BTreeMap<&str, usize> = names.iter().map(|n| (n.as_str(), n.len())).collect();
    let boxed = Box::new([k as u8; 100]);
    let mut joined = names.join(",");
    joined.push_str(&"x".repeat(k % 300));
    black_box(&boxed);
    by_len.len() + ordered.len() + joined.len()
}

/// Leaves one `Leaked` behind, three ways: leaked outright, pushed by
/// value into a registry, or boxed into one.
#[inline(never)]
fn leak_one(k: usize) {
    let leaked = Leaked {
        id: k,
        payload: vec![k as u8; 64 + k],
    };
    match k % 3 {
        0 => {
            Box::leak(Box::new(leaked));
        }
        1 => {
            // The payload is what stays: the registry's buffer was made
            // before the scope.
            KEPT.lock().unwrap().push(leaked);
        }
        _ => BOXED.lock().unwrap().push(Box::new(leaked)),
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("a leaky test must fail");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

/// Runs `body` in a scope; it must leave nothing live.
fn expect_clean(body: impl FnOnce() -> usize) {
    let live = testing::measure(|| black_box(body()));
    live.assert_none();
    assert!(live.allocations_made() >= 10, "{live}");
}

/// Runs `body` (on line `line` of this file) in a scope; it must leave the
/// `Leaked` of `leak_one(k)` live, and the failure must name its type and
/// that line.
fn expect_leak(line: u32, k: usize, body: impl FnOnce()) {
    KEPT.lock().unwrap().reserve(1000);
    BOXED.lock().unwrap().reserve(1000);
    let live = testing::measure(body);
    let message = panic_message(|| live.assert_none());
    let ty = if k % 3 == 1 { "Vec<u8>" } else { "Leaked" };
    assert!(message.contains(ty), "{ty} not named: {message}");
    let own_line = format!("tests/scopes_many.rs:{line})");
    assert!(
        message.contains(&own_line),
        "{own_line} not named: {message}"
    );
    assert!(live.bytes() >= 64 + k as u64, "{live}");
}

#[test]
fn clean_000() {
    expect_clean(|| work(0));
}

#[test]
fn clean_001() {
    expect_clean(|| work(7));
}

#[test]
fn clean_002() {
    expect_clean(|| work(14));
}

#[test]
fn clean_003() {
    expect_clean(|| work(21));
}

#[test]
fn clean_004() {
    expect_clean(|| work(28));
}

#[test]
fn clean_005() {
    expect_clean(|| work(35));
}

#[test]
fn clean_006() {
    expect_clean(|| work(42));
}

#[test]
fn clean_007() {
    expect_clean(|| work(49));
}

#[test]
fn clean_008() {
    expect_clean(|| work(56));
}

#[test]
fn clean_009() {
    expect_clean(|| work(63));
}

#[test]
fn clean_010() {
    expect_clean(|| work(70));
}

#[test]
fn clean_011() {
    expect_clean(|| work(77));
}

#[test]
fn clean_012() {
    expect_clean(|| work(84));
}

#[test]
fn clean_013() {
    expect_clean(|| work(91));
}

#[test]
fn clean_014() {
    expect_clean(|| work(98));
}

#[test]
fn clean_015() {
    expect_clean(|| work(105));
}

#[test]
fn clean_016() {
    expect_clean(|| work(112));
}

#[test]
fn clean_017() {
    expect_clean(|| work(119));
}

#[test]
fn clean_018() {
    expect_clean(|| work(126));
}

#[test]
fn clean_019() {
    expect_clean(|| work(133));
}

#[test]
fn clean_020() {
    expect_clean(|| work(140));
}

#[test]
fn clean_021() {
    expect_clean(|| work(147));
}

#[test]
fn clean_022() {
    expect_clean(|| work(154));
}

#[test]
fn clean_023() {
    expect_clean(|| work(161));
}

#[test]
fn clean_024() {
    expect_clean(|| work(168));
}

#[test]
fn clean_025() {
    expect_clean(|| work(175));
}

#[test]
fn clean_026() {
    expect_clean(|| work(182));
}

#[test]
fn clean_027() {
    expect_clean(|| work(189));
}

#[test]
fn clean_028() {
    expect_clean(|| work(196));
}

#[test]
fn clean_029() {
    expect_clean(|| work(203));
}

#[test]
fn clean_030() {
    expect_clean(|| work(210));
}

#[test]
fn clean_031() {
    expect_clean(|| work(6));
}

#[test]
fn clean_032() {
    expect_clean(|| work(13));
}

#[test]
fn clean_033() {
    expect_clean(|| work(20));
}

#[test]
fn clean_034() {
    expect_clean(|| work(27));
}

#[test]
fn clean_035() {
    expect_clean(|| work(34));
}

#[test]
fn clean_036() {
    expect_clean(|| work(41));
}

#[test]
fn clean_037() {
    expect_clean(|| work(48));
}

#[test]
fn clean_038() {
    expect_clean(|| work(55));
}

#[test]
fn clean_039() {
    expect_clean(|| work(62));
}

#[test]
fn clean_040() {
    expect_clean(|| work(69));
}

#[test]
fn clean_041() {
    expect_clean(|| work(76));
}

#[test]
fn clean_042() {
    expect_clean(|| work(83));
}

#[test]
fn clean_043() {
    expect_clean(|| work(90));
}

#[test]
fn clean_044() {
    expect_clean(|| work(97));
}

#[test]
fn clean_045() {
    expect_clean(|| work(104));
}

#[test]
fn clean_046() {
    expect_clean(|| work(111));
}

#[test]
fn clean_047() {
    expect_clean(|| work(118));
}

#[test]
fn clean_048() {
    expect_clean(|| work(125));
}

#[test]
fn clean_049() {
    expect_clean(|| work(132));
}

#[test]
fn clean_050() {
    expect_clean(|| work(139));
}

#[test]
fn clean_051() {
    expect_clean(|| work(146));
}

#[test]
fn clean_052() {
    expect_clean(|| work(153));
}

#[test]
fn clean_053() {
    expect_clean(|| work(160));
}

#[test]
fn clean_054() {
    expect_clean(|| work(167));
}

#[test]
fn clean_055() {
    expect_clean(|| work(174));
}

#[test]
fn clean_056() {
    expect_clean(|| work(181));
}

#[test]
fn clean_057() {
    expect_clean(|| work(188));
}

#[test]
fn clean_058() {
    expect_clean(|| work(195));
}

#[test]
fn clean_059() {
    expect_clean(|| work(202));
}

#[test]
fn clean_060() {
    expect_clean(|| work(209));
}

#[test]
fn clean_061() {
    expect_clean(|| work(5));
}

#[test]
fn clean_062() {
    expect_clean(|| work(12));
}

#[test]
fn clean_063() {
    expect_clean(|| work(19));
}

#[test]
fn clean_064() {
    expect_clean(|| work(26));
}

#[test]
fn clean_065() {
    expect_clean(|| work(33));
}

#[test]
fn clean_066() {
    expect_clean(|| work(40));
}

#[test]
fn clean_067() {
    expect_clean(|| work(47));
}

#[test]
fn clean_068() {
    expect_clean(|| work(54));
}

#[test]
fn clean_069() {
    expect_clean(|| work(61));
}

#[test]
fn clean_070() {
    expect_clean(|| work(68));
}

#[test]
fn clean_071() {
    expect_clean(|| work(75));
}

#[test]
fn clean_072() {
    expect_clean(|| work(82));
}

#[test]
fn clean_073() {
    expect_clean(|| work(89));
}

#[test]
fn clean_074() {
    expect_clean(|| work(96));
}

#[test]
fn clean_075() {
    expect_clean(|| work(103));
}

#[test]
fn clean_076() {
    expect_clean(|| work(110));
}

#[test]
fn clean_077() {
    expect_clean(|| work(117));
}

#[test]
fn clean_078() {
    expect_clean(|| work(124));
}

#[test]
fn clean_079() {
    expect_clean(|| work(131));
}

#[test]
fn clean_080() {
    expect_clean(|| work(138));
}

#[test]
fn clean_081() {
    expect_clean(|| work(145));
}

#[test]
fn clean_082() {
    expect_clean(|| work(152));
}

#[test]
fn clean_083() {
    expect_clean(|| work(159));
}

#[test]
fn clean_084() {
    expect_clean(|| work(166));
}

#[test]
fn clean_085() {
    expect_clean(|| work(173));
}

#[test]
fn clean_086() {
    expect_clean(|| work(180));
}

#[test]
fn clean_087() {
    expect_clean(|| work(187));
}

#[test]
fn clean_088() {
    expect_clean(|| work(194));
}

#[test]
fn clean_089() {
    expect_clean(|| work(201));
}

#[test]
fn clean_090() {
    expect_clean(|| work(208));
}

#[test]
fn clean_091() {
    expect_clean(|| work(4));
}

#[test]
fn clean_092() {
    expect_clean(|| work(11));
}

#[test]
fn clean_093() {
    expect_clean(|| work(18));
}

#[test]
fn clean_094() {
    expect_clean(|| work(25));
}

#[test]
fn clean_095() {
    expect_clean(|| work(32));
}

#[test]
fn clean_096() {
    expect_clean(|| work(39));
}

#[test]
fn clean_097() {
    expect_clean(|| work(46));
}

#[test]
fn clean_098() {
    expect_clean(|| work(53));
}

#[test]
fn clean_099() {
    expect_clean(|| work(60));
}

#[test]
fn clean_100() {
    expect_clean(|| work(67));
}

#[test]
fn clean_101() {
    expect_clean(|| work(74));
}

#[test]
fn clean_102() {
    expect_clean(|| work(81));
}

#[test]
fn clean_103() {
    expect_clean(|| work(88));
}

#[test]
fn clean_104() {
    expect_clean(|| work(95));
}

#[test]
fn clean_105() {
    expect_clean(|| work(102));
}

#[test]
fn clean_106() {
    expect_clean(|| work(109));
}

#[test]
fn clean_107() {
    expect_clean(|| work(116));
}

#[test]
fn clean_108() {
    expect_clean(|| work(123));
}

#[test]
fn clean_109() {
    expect_clean(|| work(130));
}

#[test]
fn clean_110() {
    expect_clean(|| work(137));
}

#[test]
fn clean_111() {
    expect_clean(|| work(144));
}

#[test]
fn clean_112() {
    expect_clean(|| work(151));
}

#[test]
fn clean_113() {
    expect_clean(|| work(158));
}

#[test]
fn clean_114() {
    expect_clean(|| work(165));
}

#[test]
fn clean_115() {
    expect_clean(|| work(172));
}

#[test]
fn clean_116() {
    expect_clean(|| work(179));
}

#[test]
fn clean_117() {
    expect_clean(|| work(186));
}

#[test]
fn clean_118() {
    expect_clean(|| work(193));
}

#[test]
fn clean_119() {
    expect_clean(|| work(200));
}

#[test]
fn clean_120() {
    expect_clean(|| work(207));
}

#[test]
fn clean_121() {
    expect_clean(|| work(3));
}

#[test]
fn clean_122() {
    expect_clean(|| work(10));
}

#[test]
fn clean_123() {
    expect_clean(|| work(17));
}

#[test]
fn clean_124() {
    expect_clean(|| work(24));
}

#[test]
fn clean_125() {
    expect_clean(|| work(31));
}

#[test]
fn clean_126() {
    expect_clean(|| work(38));
}

#[test]
fn clean_127() {
    expect_clean(|| work(45));
}

#[test]
fn clean_128() {
    expect_clean(|| work(52));
}

#[test]
fn clean_129() {
    expect_clean(|| work(59));
}

#[test]
fn clean_130() {
    expect_clean(|| work(66));
}

#[test]
fn clean_131() {
    expect_clean(|| work(73));
}

#[test]
fn clean_132() {
    expect_clean(|| work(80));
}

#[test]
fn clean_133() {
    expect_clean(|| work(87));
}

#[test]
fn clean_134() {
    expect_clean(|| work(94));
}

#[test]
fn clean_135() {
    expect_clean(|| work(101));
}

#[test]
fn clean_136() {
    expect_clean(|| work(108));
}

#[test]
fn clean_137() {
    expect_clean(|| work(115));
}

#[test]
fn clean_138() {
    expect_clean(|| work(122));
}

#[test]
fn clean_139() {
    expect_clean(|| work(129));
}

#[test]
fn clean_140() {
    expect_clean(|| work(136));
}

#[test]
fn clean_141() {
    expect_clean(|| work(143));
}

#[test]
fn clean_142() {
    expect_clean(|| work(150));
}

#[test]
fn clean_143() {
    expect_clean(|| work(157));
}

#[test]
fn clean_144() {
    expect_clean(|| work(164));
}

#[test]
fn clean_145() {
    expect_clean(|| work(171));
}

#[test]
fn clean_146() {
    expect_clean(|| work(178));
}

#[test]
fn clean_147() {
    expect_clean(|| work(185));
}

#[test]
fn clean_148() {
    expect_clean(|| work(192));
}

#[test]
fn clean_149() {
    expect_clean(|| work(199));
}

#[test]
fn leaky_000() {
    expect_leak(line!(), 0, || leak_one(0));
}

#[test]
fn leaky_001() {
    expect_leak(line!(), 1, || leak_one(1));
}

#[test]
fn leaky_002() {
    expect_leak(line!(), 2, || leak_one(2));
}

#[test]
fn leaky_003() {
    expect_leak(line!(), 3, || leak_one(3));
}

#[test]
fn leaky_004() {
    expect_leak(line!(), 4, || leak_one(4));
}

#[test]
fn leaky_005() {
    expect_leak(line!(), 5, || leak_one(5));
}

#[test]
fn leaky_006() {
    expect_leak(line!(), 6, || leak_one(6));
}

#[test]
fn leaky_007() {
    expect_leak(line!(), 7, || leak_one(7));
}

#[test]
fn leaky_008() {
    expect_leak(line!(), 8, || leak_one(8));
}

#[test]
fn leaky_009() {
    expect_leak(line!(), 9, || leak_one(9));
}

#[test]
fn leaky_010() {
    expect_leak(line!(), 10, || leak_one(10));
}

#[test]
fn leaky_011() {
    expect_leak(line!(), 11, || leak_one(11));
}

#[test]
fn leaky_012() {
    expect_leak(line!(), 12, || leak_one(12));
}

#[test]
fn leaky_013() {
    expect_leak(line!(), 13, || leak_one(13));
}

#[test]
fn leaky_014() {
    expect_leak(line!(), 14, || leak_one(14));
}

#[test]
fn leaky_015() {
    expect_leak(line!(), 15, || leak_one(15));
}

#[test]
fn leaky_016() {
    expect_leak(line!(), 16, || leak_one(16));
}

#[test]
fn leaky_017() {
    expect_leak(line!(), 17, || leak_one(17));
}

#[test]
fn leaky_018() {
    expect_leak(line!(), 18, || leak_one(18));
}

#[test]
fn leaky_019() {
    expect_leak(line!(), 19, || leak_one(19));
}

#[test]
fn leaky_020() {
    expect_leak(line!(), 20, || leak_one(20));
}

#[test]
fn leaky_021() {
    expect_leak(line!(), 21, || leak_one(21));
}

#[test]
fn leaky_022() {
    expect_leak(line!(), 22, || leak_one(22));
}

#[test]
fn leaky_023() {
    expect_leak(line!(), 23, || leak_one(23));
}

#[test]
fn leaky_024() {
    expect_leak(line!(), 24, || leak_one(24));
}

#[test]
fn leaky_025() {
    expect_leak(line!(), 25, || leak_one(25));
}

#[test]
fn leaky_026() {
    expect_leak(line!(), 26, || leak_one(26));
}

#[test]
fn leaky_027() {
    expect_leak(line!(), 27, || leak_one(27));
}

#[test]
fn leaky_028() {
    expect_leak(line!(), 28, || leak_one(28));
}

#[test]
fn leaky_029() {
    expect_leak(line!(), 29, || leak_one(29));
}

#[test]
fn leaky_030() {
    expect_leak(line!(), 30, || leak_one(30));
}

#[test]
fn leaky_031() {
    expect_leak(line!(), 31, || leak_one(31));
}

#[test]
fn leaky_032() {
    expect_leak(line!(), 32, || leak_one(32));
}

#[test]
fn leaky_033() {
    expect_leak(line!(), 33, || leak_one(33));
}

#[test]
fn leaky_034() {
    expect_leak(line!(), 34, || leak_one(34));
}

#[test]
fn leaky_035() {
    expect_leak(line!(), 35, || leak_one(35));
}

#[test]
fn leaky_036() {
    expect_leak(line!(), 36, || leak_one(36));
}

#[test]
fn leaky_037() {
    expect_leak(line!(), 37, || leak_one(37));
}

#[test]
fn leaky_038() {
    expect_leak(line!(), 38, || leak_one(38));
}

#[test]
fn leaky_039() {
    expect_leak(line!(), 39, || leak_one(39));
}

#[test]
fn leaky_040() {
    expect_leak(line!(), 40, || leak_one(40));
}

#[test]
fn leaky_041() {
    expect_leak(line!(), 41, || leak_one(41));
}

#[test]
fn leaky_042() {
    expect_leak(line!(), 42, || leak_one(42));
}

#[test]
fn leaky_043() {
    expect_leak(line!(), 43, || leak_one(43));
}

#[test]
fn leaky_044() {
    expect_leak(line!(), 44, || leak_one(44));
}

#[test]
fn leaky_045() {
    expect_leak(line!(), 45, || leak_one(45));
}

#[test]
fn leaky_046() {
    expect_leak(line!(), 46, || leak_one(46));
}

#[test]
fn leaky_047() {
    expect_leak(line!(), 47, || leak_one(47));
}

#[test]
fn leaky_048() {
    expect_leak(line!(), 48, || leak_one(48));
}

#[test]
fn leaky_049() {
    expect_leak(line!(), 49, || leak_one(49));
}
