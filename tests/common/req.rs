//! The `scistream req` command line as the tests write it and read it: the words that open a
//! session, and the uid and listeners its text output names.

/// `req ACTION --no-tls --s2cs S2CS REST...`: the words after the program name.
pub fn req_words<'a>(s2cs: &'a str, action: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    [&["req", action, "--no-tls", "--s2cs", s2cs][..], rest].concat()
}

/// The flags by which `req prod` sends the producer's hello itself: the producer listens on
/// 127.0.0.1, at `ports` ("P1,P2").
pub fn producer_on(ports: &str) -> [&str; 4] {
    ["--remote-ip", "127.0.0.1", "--receiver-ports", ports]
}

/// `--num-conn NUM_CONN` and [`producer_on`]: a `req prod` of `num_conn` listeners that needs
/// no app controller.
pub fn prod_flags<'a>(num_conn: &'a str, ports: &'a str) -> [&'a str; 6] {
    let [ip_flag, ip, ports_flag, ports] = producer_on(ports);
    ["--num-conn", num_conn, ip_flag, ip, ports_flag, ports]
}

/// The uid in the `<uid> <s2cs> <token> <role>` header line of `req prod|cons` text output.
pub fn uid_of(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let header = text.lines().nth(1).expect("a header line");
    header.split(' ').next().unwrap().to_owned()
}

/// The `Listeners: a,b,c` line of `req prod|cons` text output.
pub fn listeners_of(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Listeners: "))
        .unwrap_or_else(|| panic!("no Listeners line in:\n{text}"));
    line.split(',').map(str::to_string).collect()
}
