
use builtin;
use str;

set edit:completion:arg-completer[scistream] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'scistream'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'scistream'= {
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand server 'Run the control server (S2CS) and its data plane on a gateway node'
            cand req 'Drive and inspect sessions on a server (S2UC): prod, cons, release, list, status'
            cand app 'App controller: send a session''s hello; test a session end to end (send, recv)'
            cand login 'Log in to a scope with Globus Auth and store its tokens'
            cand logout 'Revoke and forget the stored tokens'
            cand check-auth 'Show the stored access tokens'
            cand completions 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
            cand install-links 'Create the symlinks s2cs, s2uc and appctrl, which speak upstream''s command lines'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;server'= {
            cand --port 'Control port clients connect to (0: any free port, printed at start)'
            cand --bind 'Address the control port binds to'
            cand --listener-ip 'Address the data listeners bind to and advertise to clients: the gateway''s address that the other side can reach (0.0.0.0 cannot be advertised)'
            cand --port-range 'Ports the data listeners are taken from, START-END inclusive'
            cand --hello-timeout 'Seconds a req waits for its hello before its ports are freed'
            cand --max-conn 'The most listeners (num_conn) one request may ask for'
            cand --tls-cert 'TLS certificate (PEM) [default: a self-signed one generated once in the config directory]'
            cand --tls-key 'TLS private key (PEM) for --tls-cert'
            cand --client-id 'Globus client id of this server: the scope clients must log in to'
            cand --client-secret 'Client secret of --client-id; it turns token checking on (without one, every call is accepted). Prefer --client-secret-file or the environment: arguments show in `ps`'
            cand --client-secret-file 'Read the client secret from this file (surrounding whitespace ignored); wins over --client-secret'
            cand --auth-cache-secs 'Seconds a positive token check is reused (0: never); a revoked token is refused at most this late. A rejected token is remembered for 10 s regardless'
            cand --metrics 'Serve Prometheus metrics on http://ADDR/metrics (plaintext: keep it on a private address, e.g. 127.0.0.1:9100)'
            cand --admin-identity 'An identity (the `sub` of its tokens) that sees and releases every session, not only its own; repeat for several. Adds to `admin_identities` in the config file'
            cand --admin-group 'Members of this Globus Group (its id, and a name for messages) are admins too; repeatable. Adds to `admin_groups` in the config file'
            cand --allow-domain 'Admit identities whose username is in DOMAIN (anl.gov), or in its subdomains (*.anl.gov); repeatable. Adds to `policy.allow_domains` in the config file'
            cand --allow-group 'Admit members of this Globus Group (its id, and a name for refusals); repeatable. Adds to `policy.allow_groups` in the config file'
            cand --allow-identity 'Admit this identity (its id or username); repeatable. Adds to `policy.allow_identities` in the config file'
            cand --deny-identity 'Refuse this identity (its id or username), whatever admits it; repeatable. Adds to `policy.deny_identities` in the config file'
            cand --authentication-policy 'Require logins that meet this Globus authentication policy (high assurance, MFA...); repeatable. Adds to `policy.authentication_policies` in the config file'
            cand --allow-targets 'Networks sessions may relay to, e.g. 10.16.0.0/16,192.0.2.7 [default: anywhere]; the server itself is never a target'
            cand --max-connections 'The most relayed connections open at once, over all sessions; past it, new ones are reset [default: what the open-file limit allows, printed at start]'
            cand --max-connections-per-source 'The most relayed connections open at once from one source address (an IPv6 /64 counts as one address), over all sessions; past it, its new ones are reset [default: half of --max-connections]'
            cand --max-session-connections 'The most relayed connections open at once in one session; past it, new ones are reset'
            cand --max-session-connection-rate 'New relayed connections one session may open per second (as many at once after a quiet second); past it, they are reset. Stops two gateways made to relay into each other at once'
            cand --relay-idle-timeout 'Seconds a relayed connection may move no data either way before it is reset [default: never, so that quiet streams are not cut]'
            cand --max-control-connections 'The most control connections open at once; past it, a new one takes the place of the oldest that has no call in progress and no authenticated call, or is closed at once'
            cand --max-control-connections-per-ip 'The most control connections open at once from one client IP address (from one /64, for IPv6)'
            cand --control-idle-timeout 'Seconds a control connection may stay open with no call in progress (a req waiting for its hello is in progress)'
            cand --state-dir 'Directory of the session store: every session is kept there and taken back when the server starts again (0700; it holds the PROD sessions'' hop keys) [default: beside --config when one is given (DIR/state), else $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/scistream]'
            cand --take-over 'Take over from the server running with this --state-dir, through its handover socket (STATE_DIR/handover.sock): its control and metrics listeners, its sessions with their listeners, and its plain relayed connections, which go on where they were; no listener closes. `systemctl reload` (SIGHUP) does this with the binary now on disk. --port, --bind and --metrics are the running server''s. If the handover fails, the running server goes on serving and this one exits'
            cand --drain-timeout 'Seconds a server that handed its sessions over (a live upgrade) lets its encrypted connections, whose TLS state cannot move, run on before it resets them and exits'
            cand --rate-policy 'What a session''s requested rate (kb/s) means: ignore it, limit the session to it (each direction, over its connections; rate 0: no limit), or reserve it out of --bandwidth and refuse sessions that do not fit'
            cand --bandwidth 'The bandwidth --rate-policy reserve shares out: bits per second with a unit (40G, 500M) or kb/s (in a pool, this node''s: each node promises its part of a session''s rate)'
            cand --listener-allow-from 'Networks that may connect to the listeners of sessions that name none of their own (req --allow-from), e.g. 10.16.0.0/16 [default: anywhere]; others are reset'
            cand --quota-sessions 'The most sessions one identity holds at once; past it, its reqs are refused (RESOURCE_EXHAUSTED) until it releases one. Wins over `quotas.default.sessions` in the config file; `quotas.identities` and `quotas.groups` override it [default: 100]'
            cand --quota-listeners 'The most listeners (ports) one identity holds at once, over all of its sessions [default: 1000]'
            cand --quota-connections 'The most relayed connections open at once over all of one identity''s sessions (in a pool: on each node); past it, new ones are reset [default: 4096]'
            cand --quota-max-rate 'The highest rate one identity''s session may ask for, where --rate-policy enforces rates: bits per second with a unit (10G) or kb/s [default: any]'
            cand --session-lifetime 'How long a session lives when its req asks for no lifetime (req --lifetime; the Python client never asks): 90s, 30m, 12h, 7d'
            cand --max-session-lifetime 'The longest lifetime a session gets: longer asks are cut to it'
            cand --session-idle-timeout 'A relaying session with no relayed connection open for this long is released'
            cand --update-timeout 'A session that got its hello but no update for this long is released (its setup failed halfway)'
            cand --cluster 'Join a pool of gateway nodes whose sessions live in etcd at these client URLs (http://HOST:2379, or https:// with --cluster-ca), instead of in --state-dir; adds to `cluster.urls` in the config file'
            cand --pool 'The pool''s name: several pools may share one etcd [default: cluster.pool in the config file, else "default"]'
            cand --cluster-ca 'CA certificate (PEM) that signed etcd''s certificate, for https:// URLs [default: the system''s CAs]'
            cand --cluster-cert 'Client certificate (PEM) this node shows etcd'
            cand --cluster-key 'Private key (PEM) of --cluster-cert'
            cand --node-name 'This node''s name in the pool, unique in it [default: cluster.node_name in the config file, else the host name]'
            cand --cluster-lease 'Seconds the node''s registration outlives its last renewal: a node that stops shows its listeners lost after at most this long [default: cluster.lease_secs, else 10]'
            cand --placement 'Where a req''s listeners go: spread over the pool''s live nodes, least loaded first, or all on the node that got the req (one address per session) [default: cluster.placement, else spread]'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Serve plaintext gRPC: tokens would cross the network in the clear'
            cand --linked-identities 'Let any identity linked to the token''s satisfy --allow-domain and --allow-identity (policy.linked_identities)'
            cand --forget-sessions 'Start with no sessions: drop the ones the store holds (their listeners were closed when the last server stopped)'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand drain 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node''s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;server;drain'= {
            cand --cluster 'Join a pool of gateway nodes whose sessions live in etcd at these client URLs (http://HOST:2379, or https:// with --cluster-ca), instead of in --state-dir; adds to `cluster.urls` in the config file'
            cand --pool 'The pool''s name: several pools may share one etcd [default: cluster.pool in the config file, else "default"]'
            cand --cluster-ca 'CA certificate (PEM) that signed etcd''s certificate, for https:// URLs [default: the system''s CAs]'
            cand --cluster-cert 'Client certificate (PEM) this node shows etcd'
            cand --cluster-key 'Private key (PEM) of --cluster-cert'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --undo 'Place new sessions on the node again'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;server;help'= {
            cand drain 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node''s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;server;help;drain'= {
        }
        &'scistream;server;help;help'= {
        }
        &'scistream;req'= {
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand prod 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer''s ports'
            cand cons 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session''s listeners'
            cand stream 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners'
            cand release 'Release a session: close its listeners and connections and free its ports'
            cand list 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets'
            cand status 'Show one session: its listeners and their targets, connections and bytes relayed'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;req;prod'= {
            cand --s2cs 'Control server (S2CS) address'
            cand --server-cert 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]'
            cand --scope 'Scope whose token to send [default: the one the config file maps this server to]'
            cand --timeout 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]'
            cand --num-conn 'Number of listeners (parallel connections) the session opens'
            cand --rate 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server''s --rate-policy decides whether it is ignored, enforced or reserved'
            cand --allow-from 'Only these networks may connect to the session''s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server''s --listener-allow-from, else anywhere]'
            cand --lifetime 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server''s --session-lifetime; the server cuts it to its --max-session-lifetime]'
            cand --remote-ip 'Address of the producer application (sent in the hello with --receiver-ports)'
            cand --receiver-ports 'The producer application''s ports: this command then sends the hello itself; without them it waits for an app controller''s hello'
            cand --uid 'Session uid to use instead of a fresh one: one an app controller was already given'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Talk plaintext gRPC to a server started with --no-tls'
            cand --json 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text'
            cand --show-token 'Show the whole access token in the header instead of its first characters'
            cand --plaintext-hop 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust'
            cand --require-encryption 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;req;cons'= {
            cand --s2cs 'Control server (S2CS) address'
            cand --server-cert 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]'
            cand --scope 'Scope whose token to send [default: the one the config file maps this server to]'
            cand --timeout 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]'
            cand --num-conn 'Number of listeners (parallel connections) the session opens'
            cand --rate 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server''s --rate-policy decides whether it is ignored, enforced or reserved'
            cand --allow-from 'Only these networks may connect to the session''s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server''s --listener-allow-from, else anywhere]'
            cand --lifetime 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server''s --session-lifetime; the server cuts it to its --max-session-lifetime]'
            cand --prod-s2cs 'The PROD session''s control server, asked for the session''s hop credential (not used with --plaintext-hop) [default: the first PROD listener''s host, port 5000]'
            cand --prod-server-cert 'Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]'
            cand --prod-scope 'Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Talk plaintext gRPC to a server started with --no-tls'
            cand --json 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text'
            cand --show-token 'Show the whole access token in the header instead of its first characters'
            cand --plaintext-hop 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust'
            cand --require-encryption 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop'
            cand --allow-plaintext-fallback 'When the CONS gateway lacks the encrypted hop, turn the encrypted PROD session''s hop plaintext (with a warning) instead of failing: anyone who reaches the PROD listeners then reads the stream. Only on a network you trust'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;req;stream'= {
            cand --timeout 'Seconds to wait for each server: to connect, and for each call [default: as `req prod`]'
            cand --prod-s2cs 'The producer-side control server (S2CS)'
            cand --cons-s2cs 'The consumer-side control server (S2CS)'
            cand --server-cert 'Trust this certificate (PEM) for both servers [default: the one a local server generated, else the system roots]'
            cand --prod-server-cert 'Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]'
            cand --cons-server-cert 'Trust this certificate (PEM) for --cons-s2cs [default: as --server-cert]'
            cand --prod-scope 'Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]'
            cand --cons-scope 'Scope whose token to send to --cons-s2cs [default: the one the config file maps it to]'
            cand --num-conn 'Number of listeners (parallel connections) the session opens'
            cand --rate 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server''s --rate-policy decides whether it is ignored, enforced or reserved'
            cand --allow-from 'Only these networks may connect to the session''s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server''s --listener-allow-from, else anywhere]'
            cand --lifetime 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server''s --session-lifetime; the server cuts it to its --max-session-lifetime]'
            cand --prod-allow-from 'Only these networks may connect to the PROD session''s listeners: the CONS gateway''s (--allow-from restricts the CONS listeners, which consumers use)'
            cand --remote-ip 'Address of the producer application (sent in the PROD session''s hello)'
            cand --receiver-ports 'The producer application''s ports'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Talk plaintext gRPC to both servers (started with --no-tls)'
            cand --json 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text'
            cand --show-token 'Show the whole access token in the header instead of its first characters'
            cand --plaintext-hop 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust'
            cand --require-encryption 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop'
            cand --allow-plaintext-fallback 'When the CONS gateway lacks the encrypted hop, turn the encrypted PROD session''s hop plaintext (with a warning) instead of failing: anyone who reaches the PROD listeners then reads the stream. Only on a network you trust'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;req;release'= {
            cand --s2cs 'Control server (S2CS) address'
            cand --server-cert 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]'
            cand --scope 'Scope whose token to send [default: the one the config file maps this server to]'
            cand --timeout 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Talk plaintext gRPC to a server started with --no-tls'
            cand --json 'Print one JSON object (uid, s2cs, listeners, targets) instead of text'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;req;list'= {
            cand --s2cs 'Control server (S2CS) address'
            cand --server-cert 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]'
            cand --scope 'Scope whose token to send [default: the one the config file maps this server to]'
            cand --timeout 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Talk plaintext gRPC to a server started with --no-tls'
            cand --json 'Print a JSON array of sessions instead of a table'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;req;status'= {
            cand --s2cs 'Control server (S2CS) address'
            cand --server-cert 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]'
            cand --scope 'Scope whose token to send [default: the one the config file maps this server to]'
            cand --timeout 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Talk plaintext gRPC to a server started with --no-tls'
            cand --json 'Print one JSON object instead of text'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;req;help'= {
            cand prod 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer''s ports'
            cand cons 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session''s listeners'
            cand stream 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners'
            cand release 'Release a session: close its listeners and connections and free its ports'
            cand list 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets'
            cand status 'Show one session: its listeners and their targets, connections and bytes relayed'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;req;help;prod'= {
        }
        &'scistream;req;help;cons'= {
        }
        &'scistream;req;help;stream'= {
        }
        &'scistream;req;help;release'= {
        }
        &'scistream;req;help;list'= {
        }
        &'scistream;req;help;status'= {
        }
        &'scistream;req;help;help'= {
        }
        &'scistream;app'= {
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand hello 'Send a session''s hello: tell a PROD session where the producer application listens'
            cand send 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum'
            cand recv 'Receive and verify `app send`''s streams; prints the same checksum as the sender'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;app;hello'= {
            cand --s2cs 'Control server (S2CS) address'
            cand --server-cert 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]'
            cand --scope 'Scope whose token to send [default: the one the config file maps this server to]'
            cand --timeout 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]'
            cand --prod-listeners 'The producer application''s addresses, comma-separated host:port'
            cand --role 'Role the hello names (the session keeps the role its req gave)'
            cand --attempts 'Tries before giving up while the server is unreachable or not ready'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --no-tls 'Talk plaintext gRPC to a server started with --no-tls'
            cand --json 'Print one JSON object (uid, s2cs, message, listeners) instead of text'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;app;send'= {
            cand --connect 'Open the connections to HOST:PORT: a session''s listener, or the other end''s --listen'
            cand --listen 'Accept the other end''s connections on HOST:PORT (port 0: any free port; the address is printed on stderr)'
            cand --bytes 'Send this many bytes in all, split over the streams (suffix K, M, G or T: binary units)'
            cand --seconds 'Send for this long [default: 10 unless --bytes is given]'
            cand --streams 'Parallel connections (at most 64); with --listen, the first K accepted (with --run-token, the first K that prove it)'
            cand --run-token 'A token of this run, given to both ends (`app send` and `app recv`): each then takes only connections that prove it, so a stranger''s connection neither counts as a stream nor fails the transfer. A sha256 of it crosses, never the token. Prefer the environment variable: arguments show in `ps`'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --json 'Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;app;recv'= {
            cand --connect 'Open the connections to HOST:PORT: a session''s listener, or the other end''s --listen'
            cand --listen 'Accept the other end''s connections on HOST:PORT (port 0: any free port; the address is printed on stderr)'
            cand --streams 'With --connect: connections to open, the sender''s --streams (with --listen, the sender''s headers tell)'
            cand --run-token 'A token of this run, given to both ends (`app send` and `app recv`): each then takes only connections that prove it, so a stranger''s connection neither counts as a stream nor fails the transfer. A sha256 of it crosses, never the token. Prefer the environment variable: arguments show in `ps`'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --json 'Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;app;help'= {
            cand hello 'Send a session''s hello: tell a PROD session where the producer application listens'
            cand send 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum'
            cand recv 'Receive and verify `app send`''s streams; prints the same checksum as the sender'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;app;help;hello'= {
        }
        &'scistream;app;help;send'= {
        }
        &'scistream;app;help;recv'= {
        }
        &'scistream;app;help;help'= {
        }
        &'scistream;login'= {
            cand --scope 'Scope to log in to: the client id of the control servers you will use'
            cand --map 'Record that this server address uses the scope (repeatable); works when already logged in'
            cand --required-domain 'Log in with an identity from this domain, as a gateway''s refusal asks (repeatable: one of them); implies a new login, like --force'
            cand --required-identity 'Log in with this identity (its id); repeatable; implies a new login'
            cand --required-policy 'Log in so as to meet this Globus authentication policy (high assurance, MFA...); repeatable; implies a new login'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --force 'Log in again even if a valid token for the scope is stored'
            cand --required-mfa 'Log in with multi-factor authentication; implies a new login'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;logout'= {
            cand --scope 'Log out of this scope only [default: every stored scope]'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;check-auth'= {
            cand --scope 'Only this scope [default: every stored scope]'
            cand --s2cs 'Only the scope the server map gives this control server'
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand --json 'Print a JSON array of {scope, access_token, expires_at, expired}'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;completions'= {
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;install-links'= {
            cand --config 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]'
            cand --log-format 'Log lines as text, or as one JSON object per line for log shippers'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'scistream;help'= {
            cand server 'Run the control server (S2CS) and its data plane on a gateway node'
            cand req 'Drive and inspect sessions on a server (S2UC): prod, cons, release, list, status'
            cand app 'App controller: send a session''s hello; test a session end to end (send, recv)'
            cand login 'Log in to a scope with Globus Auth and store its tokens'
            cand logout 'Revoke and forget the stored tokens'
            cand check-auth 'Show the stored access tokens'
            cand completions 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
            cand install-links 'Create the symlinks s2cs, s2uc and appctrl, which speak upstream''s command lines'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'scistream;help;server'= {
            cand drain 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node''s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it'
        }
        &'scistream;help;server;drain'= {
        }
        &'scistream;help;req'= {
            cand prod 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer''s ports'
            cand cons 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session''s listeners'
            cand stream 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners'
            cand release 'Release a session: close its listeners and connections and free its ports'
            cand list 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets'
            cand status 'Show one session: its listeners and their targets, connections and bytes relayed'
        }
        &'scistream;help;req;prod'= {
        }
        &'scistream;help;req;cons'= {
        }
        &'scistream;help;req;stream'= {
        }
        &'scistream;help;req;release'= {
        }
        &'scistream;help;req;list'= {
        }
        &'scistream;help;req;status'= {
        }
        &'scistream;help;app'= {
            cand hello 'Send a session''s hello: tell a PROD session where the producer application listens'
            cand send 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum'
            cand recv 'Receive and verify `app send`''s streams; prints the same checksum as the sender'
        }
        &'scistream;help;app;hello'= {
        }
        &'scistream;help;app;send'= {
        }
        &'scistream;help;app;recv'= {
        }
        &'scistream;help;login'= {
        }
        &'scistream;help;logout'= {
        }
        &'scistream;help;check-auth'= {
        }
        &'scistream;help;completions'= {
        }
        &'scistream;help;install-links'= {
        }
        &'scistream;help;help'= {
        }
    ]
    $completions[$command]
}
