# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_scistream_global_optspecs
    string join \n config= v/verbose q/quiet log-format= h/help V/version
end

function __fish_scistream_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_scistream_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_scistream_using_subcommand
    set -l cmd (__fish_scistream_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c scistream -n "__fish_scistream_needs_command" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_needs_command" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_needs_command" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_needs_command" -s V -l version -d 'Print version'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "server" -d 'Run the control server (S2CS) and its data plane on a gateway node'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "req" -d 'Drive and inspect sessions on a server (S2UC): prod, cons, release, list, status'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "app" -d 'App controller: send a session\'s hello; test a session end to end (send, recv)'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "login" -d 'Log in to a scope with Globus Auth and store its tokens'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "logout" -d 'Revoke and forget the stored tokens'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "check-auth" -d 'Show the stored access tokens'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "completions" -d 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "install-links" -d 'Create the symlinks s2cs, s2uc and appctrl, which speak upstream\'s command lines'
complete -c scistream -n "__fish_scistream_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l port -d 'Control port clients connect to (0: any free port, printed at start)' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l bind -d 'Address the control port binds to' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l listener-ip -d 'Address the data listeners bind to and advertise to clients: the gateway\'s address that the other side can reach (0.0.0.0 cannot be advertised)' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l port-range -d 'Ports the data listeners are taken from, START-END inclusive' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l hello-timeout -d 'Seconds a req waits for its hello before its ports are freed' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-conn -d 'The most listeners (num_conn) one request may ask for' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l tls-cert -d 'TLS certificate (PEM) [default: a self-signed one generated once in the config directory]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l tls-key -d 'TLS private key (PEM) for --tls-cert' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l client-id -d 'Globus client id of this server: the scope clients must log in to' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l client-secret -d 'Client secret of --client-id; it turns token checking on (without one, every call is accepted). Prefer --client-secret-file or the environment: arguments show in `ps`' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l client-secret-file -d 'Read the client secret from this file (surrounding whitespace ignored); wins over --client-secret' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l auth-cache-secs -d 'Seconds a positive token check is reused (0: never); a revoked token is refused at most this late. A rejected token is remembered for 10 s regardless' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l metrics -d 'Serve Prometheus metrics on http://ADDR/metrics (plaintext: keep it on a private address, e.g. 127.0.0.1:9100)' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l admin-identity -d 'An identity (the `sub` of its tokens) that sees and releases every session, not only its own; repeat for several. Adds to `admin_identities` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l admin-group -d 'Members of this Globus Group (its id, and a name for messages) are admins too; repeatable. Adds to `admin_groups` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l allow-domain -d 'Admit identities whose username is in DOMAIN (anl.gov), or in its subdomains (*.anl.gov); repeatable. Adds to `policy.allow_domains` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l allow-group -d 'Admit members of this Globus Group (its id, and a name for refusals); repeatable. Adds to `policy.allow_groups` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l allow-identity -d 'Admit this identity (its id or username); repeatable. Adds to `policy.allow_identities` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l deny-identity -d 'Refuse this identity (its id or username), whatever admits it; repeatable. Adds to `policy.deny_identities` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l authentication-policy -d 'Require logins that meet this Globus authentication policy (high assurance, MFA...); repeatable. Adds to `policy.authentication_policies` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l allow-targets -d 'Networks sessions may relay to, e.g. 10.16.0.0/16,192.0.2.7 [default: anywhere]; the server itself is never a target' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-connections -d 'The most relayed connections open at once, over all sessions; past it, new ones are reset [default: what the open-file limit allows, printed at start]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-connections-per-source -d 'The most relayed connections open at once from one source address (an IPv6 /64 counts as one address), over all sessions; past it, its new ones are reset [default: half of --max-connections]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-session-connections -d 'The most relayed connections open at once in one session; past it, new ones are reset' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-session-connection-rate -d 'New relayed connections one session may open per second (as many at once after a quiet second); past it, they are reset. Stops two gateways made to relay into each other at once' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l relay-idle-timeout -d 'Seconds a relayed connection may move no data either way before it is reset [default: never, so that quiet streams are not cut]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-control-connections -d 'The most control connections open at once; past it, a new one takes the place of the oldest that has no call in progress and no authenticated call, or is closed at once' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-control-connections-per-ip -d 'The most control connections open at once from one client IP address (from one /64, for IPv6)' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l control-idle-timeout -d 'Seconds a control connection may stay open with no call in progress (a req waiting for its hello is in progress)' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l state-dir -d 'Directory of the session store: every session is kept there and taken back when the server starts again (0700; it holds the PROD sessions\' hop keys) [default: beside --config when one is given (DIR/state), else $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/scistream]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l take-over -d 'Take over from the server running with this --state-dir, through its handover socket (STATE_DIR/handover.sock): its control and metrics listeners, its sessions with their listeners, and its plain relayed connections, which go on where they were; no listener closes. `systemctl reload` (SIGHUP) does this with the binary now on disk. --port, --bind and --metrics are the running server\'s. If the handover fails, the running server goes on serving and this one exits' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l drain-timeout -d 'Seconds a server that handed its sessions over (a live upgrade) lets its encrypted connections, whose TLS state cannot move, run on before it resets them and exits' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l rate-policy -d 'What a session\'s requested rate (kb/s) means: ignore it, limit the session to it (each direction, over its connections; rate 0: no limit), or reserve it out of --bandwidth and refuse sessions that do not fit' -r -f -a "ignore\t'Record and show it, enforce nothing (as SciStream 1.2 servers do)'
limit\t'Hold each session to its rate, in each direction, over all of its connections'
reserve\t'Limit, and admit a session only while the admitted rates fit --bandwidth'"
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l bandwidth -d 'The bandwidth --rate-policy reserve shares out: bits per second with a unit (40G, 500M) or kb/s (in a pool, this node\'s: each node promises its part of a session\'s rate)' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l listener-allow-from -d 'Networks that may connect to the listeners of sessions that name none of their own (req --allow-from), e.g. 10.16.0.0/16 [default: anywhere]; others are reset' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l quota-sessions -d 'The most sessions one identity holds at once; past it, its reqs are refused (RESOURCE_EXHAUSTED) until it releases one. Wins over `quotas.default.sessions` in the config file; `quotas.identities` and `quotas.groups` override it [default: 100]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l quota-listeners -d 'The most listeners (ports) one identity holds at once, over all of its sessions [default: 1000]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l quota-connections -d 'The most relayed connections open at once over all of one identity\'s sessions (in a pool: on each node); past it, new ones are reset [default: 4096]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l quota-max-rate -d 'The highest rate one identity\'s session may ask for, where --rate-policy enforces rates: bits per second with a unit (10G) or kb/s [default: any]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l session-lifetime -d 'How long a session lives when its req asks for no lifetime (req --lifetime; the Python client never asks): 90s, 30m, 12h, 7d' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l max-session-lifetime -d 'The longest lifetime a session gets: longer asks are cut to it' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l session-idle-timeout -d 'A relaying session with no relayed connection open for this long is released' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l update-timeout -d 'A session that got its hello but no update for this long is released (its setup failed halfway)' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l cluster -d 'Join a pool of gateway nodes whose sessions live in etcd at these client URLs (http://HOST:2379, or https:// with --cluster-ca), instead of in --state-dir; adds to `cluster.urls` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l pool -d 'The pool\'s name: several pools may share one etcd [default: cluster.pool in the config file, else "default"]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l cluster-ca -d 'CA certificate (PEM) that signed etcd\'s certificate, for https:// URLs [default: the system\'s CAs]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l cluster-cert -d 'Client certificate (PEM) this node shows etcd' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l cluster-key -d 'Private key (PEM) of --cluster-cert' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l node-name -d 'This node\'s name in the pool, unique in it [default: cluster.node_name in the config file, else the host name]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l cluster-lease -d 'Seconds the node\'s registration outlives its last renewal: a node that stops shows its listeners lost after at most this long [default: cluster.lease_secs, else 10]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l placement -d 'Where a req\'s listeners go: spread over the pool\'s live nodes, least loaded first, or all on the node that got the req (one address per session) [default: cluster.placement, else spread]' -r -f -a "spread\t'Over the pool\'s live nodes, least loaded first'
local\t'All on the node that got the req (one address for the whole session)'"
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l no-tls -d 'Serve plaintext gRPC: tokens would cross the network in the clear'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l linked-identities -d 'Let any identity linked to the token\'s satisfy --allow-domain and --allow-identity (policy.linked_identities)'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -l forget-sessions -d 'Start with no sessions: drop the ones the store holds (their listeners were closed when the last server stopped)'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -f -a "drain" -d 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node\'s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it'
complete -c scistream -n "__fish_scistream_using_subcommand server; and not __fish_seen_subcommand_from drain help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l cluster -d 'Join a pool of gateway nodes whose sessions live in etcd at these client URLs (http://HOST:2379, or https:// with --cluster-ca), instead of in --state-dir; adds to `cluster.urls` in the config file' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l pool -d 'The pool\'s name: several pools may share one etcd [default: cluster.pool in the config file, else "default"]' -r
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l cluster-ca -d 'CA certificate (PEM) that signed etcd\'s certificate, for https:// URLs [default: the system\'s CAs]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l cluster-cert -d 'Client certificate (PEM) this node shows etcd' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l cluster-key -d 'Private key (PEM) of --cluster-cert' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -l undo -d 'Place new sessions on the node again'
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from drain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "drain" -d 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node\'s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it'
complete -c scistream -n "__fish_scistream_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -f -a "prod" -d 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer\'s ports'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -f -a "cons" -d 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session\'s listeners'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -f -a "stream" -d 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -f -a "release" -d 'Release a session: close its listeners and connections and free its ports'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -f -a "list" -d 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -f -a "status" -d 'Show one session: its listeners and their targets, connections and bytes relayed'
complete -c scistream -n "__fish_scistream_using_subcommand req; and not __fish_seen_subcommand_from prod cons stream release list status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l s2cs -d 'Control server (S2CS) address' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l server-cert -d 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l scope -d 'Scope whose token to send [default: the one the config file maps this server to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l timeout -d 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server\'s default hello timeout, 180, plus a margin), 30 for the others]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l num-conn -d 'Number of listeners (parallel connections) the session opens' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l rate -d 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server\'s --rate-policy decides whether it is ignored, enforced or reserved' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l allow-from -d 'Only these networks may connect to the session\'s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server\'s --listener-allow-from, else anywhere]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l lifetime -d 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server\'s --session-lifetime; the server cuts it to its --max-session-lifetime]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l remote-ip -d 'Address of the producer application (sent in the hello with --receiver-ports)' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l receiver-ports -d 'The producer application\'s ports: this command then sends the hello itself; without them it waits for an app controller\'s hello' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l uid -d 'Session uid to use instead of a fresh one: one an app controller was already given' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l no-tls -d 'Talk plaintext gRPC to a server started with --no-tls'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l json -d 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l show-token -d 'Show the whole access token in the header instead of its first characters'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l plaintext-hop -d 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -l require-encryption -d 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from prod" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l s2cs -d 'Control server (S2CS) address' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l server-cert -d 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l scope -d 'Scope whose token to send [default: the one the config file maps this server to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l timeout -d 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server\'s default hello timeout, 180, plus a margin), 30 for the others]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l num-conn -d 'Number of listeners (parallel connections) the session opens' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l rate -d 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server\'s --rate-policy decides whether it is ignored, enforced or reserved' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l allow-from -d 'Only these networks may connect to the session\'s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server\'s --listener-allow-from, else anywhere]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l lifetime -d 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server\'s --session-lifetime; the server cuts it to its --max-session-lifetime]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l prod-s2cs -d 'The PROD session\'s control server, asked for the session\'s hop credential (not used with --plaintext-hop) [default: the first PROD listener\'s host, port 5000]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l prod-server-cert -d 'Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l prod-scope -d 'Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l no-tls -d 'Talk plaintext gRPC to a server started with --no-tls'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l json -d 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l show-token -d 'Show the whole access token in the header instead of its first characters'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l plaintext-hop -d 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l require-encryption -d 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -l allow-plaintext-fallback -d 'When the CONS gateway lacks the encrypted hop, turn the encrypted PROD session\'s hop plaintext (with a warning) instead of failing: anyone who reaches the PROD listeners then reads the stream. Only on a network you trust'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from cons" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l timeout -d 'Seconds to wait for each server: to connect, and for each call [default: as `req prod`]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l prod-s2cs -d 'The producer-side control server (S2CS)' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l cons-s2cs -d 'The consumer-side control server (S2CS)' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l server-cert -d 'Trust this certificate (PEM) for both servers [default: the one a local server generated, else the system roots]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l prod-server-cert -d 'Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l cons-server-cert -d 'Trust this certificate (PEM) for --cons-s2cs [default: as --server-cert]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l prod-scope -d 'Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l cons-scope -d 'Scope whose token to send to --cons-s2cs [default: the one the config file maps it to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l num-conn -d 'Number of listeners (parallel connections) the session opens' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l rate -d 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server\'s --rate-policy decides whether it is ignored, enforced or reserved' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l allow-from -d 'Only these networks may connect to the session\'s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server\'s --listener-allow-from, else anywhere]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l lifetime -d 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server\'s --session-lifetime; the server cuts it to its --max-session-lifetime]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l prod-allow-from -d 'Only these networks may connect to the PROD session\'s listeners: the CONS gateway\'s (--allow-from restricts the CONS listeners, which consumers use)' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l remote-ip -d 'Address of the producer application (sent in the PROD session\'s hello)' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l receiver-ports -d 'The producer application\'s ports' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l no-tls -d 'Talk plaintext gRPC to both servers (started with --no-tls)'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l json -d 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l show-token -d 'Show the whole access token in the header instead of its first characters'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l plaintext-hop -d 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l require-encryption -d 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -l allow-plaintext-fallback -d 'When the CONS gateway lacks the encrypted hop, turn the encrypted PROD session\'s hop plaintext (with a warning) instead of failing: anyone who reaches the PROD listeners then reads the stream. Only on a network you trust'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from stream" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l s2cs -d 'Control server (S2CS) address' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l server-cert -d 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l scope -d 'Scope whose token to send [default: the one the config file maps this server to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l timeout -d 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server\'s default hello timeout, 180, plus a margin), 30 for the others]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l no-tls -d 'Talk plaintext gRPC to a server started with --no-tls'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -l json -d 'Print one JSON object (uid, s2cs, listeners, targets) instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from release" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l s2cs -d 'Control server (S2CS) address' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l server-cert -d 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l scope -d 'Scope whose token to send [default: the one the config file maps this server to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l timeout -d 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server\'s default hello timeout, 180, plus a margin), 30 for the others]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l no-tls -d 'Talk plaintext gRPC to a server started with --no-tls'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -l json -d 'Print a JSON array of sessions instead of a table'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l s2cs -d 'Control server (S2CS) address' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l server-cert -d 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l scope -d 'Scope whose token to send [default: the one the config file maps this server to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l timeout -d 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server\'s default hello timeout, 180, plus a margin), 30 for the others]' -r
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l no-tls -d 'Talk plaintext gRPC to a server started with --no-tls'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -l json -d 'Print one JSON object instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from help" -f -a "prod" -d 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer\'s ports'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from help" -f -a "cons" -d 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session\'s listeners'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from help" -f -a "stream" -d 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from help" -f -a "release" -d 'Release a session: close its listeners and connections and free its ports'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show one session: its listeners and their targets, connections and bytes relayed'
complete -c scistream -n "__fish_scistream_using_subcommand req; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -f -a "hello" -d 'Send a session\'s hello: tell a PROD session where the producer application listens'
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -f -a "send" -d 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum'
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -f -a "recv" -d 'Receive and verify `app send`\'s streams; prints the same checksum as the sender'
complete -c scistream -n "__fish_scistream_using_subcommand app; and not __fish_seen_subcommand_from hello send recv help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l s2cs -d 'Control server (S2CS) address' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l server-cert -d 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l scope -d 'Scope whose token to send [default: the one the config file maps this server to]' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l timeout -d 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server\'s default hello timeout, 180, plus a margin), 30 for the others]' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l prod-listeners -d 'The producer application\'s addresses, comma-separated host:port' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l role -d 'Role the hello names (the session keeps the role its req gave)' -r -f -a "PROD\t''
CONS\t''"
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l attempts -d 'Tries before giving up while the server is unreachable or not ready' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l no-tls -d 'Talk plaintext gRPC to a server started with --no-tls'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -l json -d 'Print one JSON object (uid, s2cs, message, listeners) instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from hello" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l connect -d 'Open the connections to HOST:PORT: a session\'s listener, or the other end\'s --listen' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l listen -d 'Accept the other end\'s connections on HOST:PORT (port 0: any free port; the address is printed on stderr)' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l bytes -d 'Send this many bytes in all, split over the streams (suffix K, M, G or T: binary units)' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l seconds -d 'Send for this long [default: 10 unless --bytes is given]' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l streams -d 'Parallel connections (at most 64); with --listen, the first K accepted (with --run-token, the first K that prove it)' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l run-token -d 'A token of this run, given to both ends (`app send` and `app recv`): each then takes only connections that prove it, so a stranger\'s connection neither counts as a stream nor fails the transfer. A sha256 of it crosses, never the token. Prefer the environment variable: arguments show in `ps`' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -l json -d 'Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -l connect -d 'Open the connections to HOST:PORT: a session\'s listener, or the other end\'s --listen' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -l listen -d 'Accept the other end\'s connections on HOST:PORT (port 0: any free port; the address is printed on stderr)' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -l streams -d 'With --connect: connections to open, the sender\'s --streams (with --listen, the sender\'s headers tell)' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -l run-token -d 'A token of this run, given to both ends (`app send` and `app recv`): each then takes only connections that prove it, so a stranger\'s connection neither counts as a stream nor fails the transfer. A sha256 of it crosses, never the token. Prefer the environment variable: arguments show in `ps`' -r
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -l json -d 'Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from recv" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from help" -f -a "hello" -d 'Send a session\'s hello: tell a PROD session where the producer application listens'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from help" -f -a "send" -d 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from help" -f -a "recv" -d 'Receive and verify `app send`\'s streams; prints the same checksum as the sender'
complete -c scistream -n "__fish_scistream_using_subcommand app; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand login" -l scope -d 'Scope to log in to: the client id of the control servers you will use' -r
complete -c scistream -n "__fish_scistream_using_subcommand login" -l map -d 'Record that this server address uses the scope (repeatable); works when already logged in' -r
complete -c scistream -n "__fish_scistream_using_subcommand login" -l required-domain -d 'Log in with an identity from this domain, as a gateway\'s refusal asks (repeatable: one of them); implies a new login, like --force' -r
complete -c scistream -n "__fish_scistream_using_subcommand login" -l required-identity -d 'Log in with this identity (its id); repeatable; implies a new login' -r
complete -c scistream -n "__fish_scistream_using_subcommand login" -l required-policy -d 'Log in so as to meet this Globus authentication policy (high assurance, MFA...); repeatable; implies a new login' -r
complete -c scistream -n "__fish_scistream_using_subcommand login" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand login" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand login" -l force -d 'Log in again even if a valid token for the scope is stored'
complete -c scistream -n "__fish_scistream_using_subcommand login" -l required-mfa -d 'Log in with multi-factor authentication; implies a new login'
complete -c scistream -n "__fish_scistream_using_subcommand login" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand login" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand logout" -l scope -d 'Log out of this scope only [default: every stored scope]' -r
complete -c scistream -n "__fish_scistream_using_subcommand logout" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand logout" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand logout" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand logout" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand logout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -l scope -d 'Only this scope [default: every stored scope]' -r
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -l s2cs -d 'Only the scope the server map gives this control server' -r
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -l json -d 'Print a JSON array of {scope, access_token, expires_at, expired}'
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand check-auth" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand completions" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand completions" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand completions" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand install-links" -l config -d 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]' -r -F
complete -c scistream -n "__fish_scistream_using_subcommand install-links" -l log-format -d 'Log lines as text, or as one JSON object per line for log shippers' -r -f -a "text\t'For people; colored on a terminal unless NO_COLOR is set'
json\t'One JSON object per line, event fields at the top level'"
complete -c scistream -n "__fish_scistream_using_subcommand install-links" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c scistream -n "__fish_scistream_using_subcommand install-links" -s q -l quiet -d 'Only errors on stderr'
complete -c scistream -n "__fish_scistream_using_subcommand install-links" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "server" -d 'Run the control server (S2CS) and its data plane on a gateway node'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "req" -d 'Drive and inspect sessions on a server (S2UC): prod, cons, release, list, status'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "app" -d 'App controller: send a session\'s hello; test a session end to end (send, recv)'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "login" -d 'Log in to a scope with Globus Auth and store its tokens'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "logout" -d 'Revoke and forget the stored tokens'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "check-auth" -d 'Show the stored access tokens'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "completions" -d 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "install-links" -d 'Create the symlinks s2cs, s2uc and appctrl, which speak upstream\'s command lines'
complete -c scistream -n "__fish_scistream_using_subcommand help; and not __fish_seen_subcommand_from server req app login logout check-auth completions install-links help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "drain" -d 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node\'s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from req" -f -a "prod" -d 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer\'s ports'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from req" -f -a "cons" -d 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session\'s listeners'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from req" -f -a "stream" -d 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from req" -f -a "release" -d 'Release a session: close its listeners and connections and free its ports'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from req" -f -a "list" -d 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from req" -f -a "status" -d 'Show one session: its listeners and their targets, connections and bytes relayed'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from app" -f -a "hello" -d 'Send a session\'s hello: tell a PROD session where the producer application listens'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from app" -f -a "send" -d 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum'
complete -c scistream -n "__fish_scistream_using_subcommand help; and __fish_seen_subcommand_from app" -f -a "recv" -d 'Receive and verify `app send`\'s streams; prints the same checksum as the sender'
