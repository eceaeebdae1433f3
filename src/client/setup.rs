//! Opening sessions, as `req prod`, `req cons` and `req stream` do it: req (+ hello), the hop
//! and update on one gateway, or a whole stream on two. What a setup opened and then cannot
//! finish is released here, and only here: [`Setup::settle`], from the [`Ledger`].

use anyhow::{bail, Result};
use ipnet::IpNet;
use tonic::Code;

use super::{reply_addresses, Gateway, Refused, Routed};

use crate::address::{self, HostPort};
use crate::exit::Failure;
use crate::pb;
use crate::session::Role;

/// How the gateway-to-gateway hop is to be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HopPolicy {
    /// In clear and unauthenticated, as SciStream 1.2 does (`--plaintext-hop`).
    Plaintext,
    /// Encrypted. A PROD gateway without the encrypted hop leaves the hop plaintext, with a
    /// warning; a CONS gateway without it fails the setup rather than turn an encrypted PROD
    /// session plaintext.
    Encrypted,
    /// As `Encrypted`, but a CONS gateway without the encrypted hop turns the PROD session's
    /// hop plaintext, with a warning (`--allow-plaintext-fallback`).
    FallBack,
    /// Encrypted, or the setup fails (`--require-encryption`).
    Required,
}

/// Whether a session's hop ended up encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HopEncryption {
    Encrypted,
    Plaintext,
}

impl HopEncryption {
    /// As `--json` says it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HopEncryption::Encrypted => "encrypted",
            HopEncryption::Plaintext => "plaintext",
        }
    }
}

/// A session set up on one gateway.
pub(crate) struct Opened {
    pub(crate) routed: Routed,
    /// The credential of its hop, when that is encrypted.
    credential: Option<pb::HopCredential>,
}

impl Opened {
    pub(crate) fn hop_encryption(&self) -> HopEncryption {
        match self.credential {
            Some(_) => HopEncryption::Encrypted,
            None => HopEncryption::Plaintext,
        }
    }
}

/// What to open, and how.
pub(crate) struct Setup<'a> {
    /// The session's uid: the same on both gateways of a stream.
    pub(crate) uid: &'a str,
    pub(crate) num_conn: i32,
    pub(crate) rate: i32,
    /// How long the session is to live (None: the server's default).
    pub(crate) lifetime: Option<std::time::Duration>,
    /// The networks that may connect to the listeners this setup opens (empty: the server's
    /// default); in a whole stream, those of the CONS session.
    pub(crate) allow_from: &'a [IpNet],
    /// In a whole stream, the networks that may connect to the PROD session's listeners.
    pub(crate) prod_allow_from: &'a [IpNet],
    pub(crate) hop: HopPolicy,
    /// The command line that runs this setup, for the refusal that says how to run it with
    /// `--allow-plaintext-fallback`.
    pub(crate) command: &'a str,
    /// Where warnings go (the command prints them).
    pub(crate) warn: &'a dyn Fn(&str),
}

/// The gateways on which a setup opened its session so far: released, latest first, if a
/// later step fails.
#[derive(Default)]
struct Ledger<'g> {
    opened: Vec<&'g Gateway>,
}

impl Setup<'_> {
    /// Opens the PROD session on `prod`, with a hello naming the `producer`'s addresses (none:
    /// the producer's app controller sends it).
    pub(crate) async fn prod(&self, prod: &Gateway, producer: Vec<HostPort>) -> Result<Opened> {
        self.refuse_credentials_in_clear(&[prod])?;
        let mut ledger = Ledger::default();
        let opened = self
            .prod_half(&mut ledger, prod, producer, self.allow_from)
            .await;
        self.settle(ledger, opened).await
    }

    /// Opens the CONS session on `cons`, relaying to the PROD session's listeners `targets`
    /// over the hop whose credential `prod` (the PROD session's gateway) gives; without `prod`,
    /// the hop is plaintext. The PROD session is not this setup's to release.
    pub(crate) async fn cons(
        &self,
        cons: &Gateway,
        prod: Option<&Gateway>,
        targets: Vec<HostPort>,
    ) -> Result<Opened> {
        let carriers: Vec<&Gateway> = prod.into_iter().chain([cons]).collect();
        self.refuse_credentials_in_clear(&carriers)?;
        let credential = match prod {
            Some(prod) => self.arm(prod).await?,
            None => None,
        };
        let mut ledger = Ledger::default();
        let opened = self
            .cons_half(&mut ledger, cons, prod, targets, credential)
            .await;
        self.settle(ledger, opened).await
    }

    /// Opens a whole stream: the PROD session on `prod`, then the CONS session on `cons`
    /// relaying to it. If any step fails, both are released.
    pub(crate) async fn stream(
        &self,
        prod: &Gateway,
        cons: &Gateway,
        producer: Vec<HostPort>,
    ) -> Result<(Opened, Opened)> {
        self.refuse_credentials_in_clear(&[prod, cons])?;
        let mut ledger = Ledger::default();
        let opened = self.both_halves(&mut ledger, prod, cons, producer).await;
        self.settle(ledger, opened).await
    }

    async fn both_halves<'g>(
        &self,
        ledger: &mut Ledger<'g>,
        prod: &'g Gateway,
        cons: &'g Gateway,
        producer: Vec<HostPort>,
    ) -> Result<(Opened, Opened)> {
        let prod_half = self
            .prod_half(ledger, prod, producer, self.prod_allow_from)
            .await?;
        let targets = prod_half.routed.listeners.clone();
        let credential = prod_half.credential.clone();
        let cons_half = self
            .cons_half(ledger, cons, Some(prod), targets, credential)
            .await?;
        Ok((prod_half, cons_half))
    }

    async fn prod_half<'g>(
        &self,
        ledger: &mut Ledger<'g>,
        prod: &'g Gateway,
        producer: Vec<HostPort>,
        allow_from: &[IpNet],
    ) -> Result<Opened> {
        let targets = self
            .start(ledger, prod, Role::Prod, producer, allow_from)
            .await?;
        self.warn_if_open(prod);
        let credential = self.arm(prod).await?;
        let role = Role::Prod.as_str();
        let routed = prod.client.update(self.uid, role, &targets, None).await;
        let routed = routed.map_err(|s| prod.failed(s))?;
        Ok(Opened { routed, credential })
    }

    async fn cons_half<'g>(
        &self,
        ledger: &mut Ledger<'g>,
        cons: &'g Gateway,
        prod: Option<&Gateway>,
        targets: Vec<HostPort>,
        credential: Option<pb::HopCredential>,
    ) -> Result<Opened> {
        let targets = self
            .start(ledger, cons, Role::Cons, targets, self.allow_from)
            .await?;
        self.update_cons(cons, prod, targets, credential).await
    }

    /// Req (+ hello, when `hello` names addresses) on `gateway`: entered in the ledger as soon
    /// as the session exists there. Returns the hello's addresses, the session's targets.
    async fn start<'g>(
        &self,
        ledger: &mut Ledger<'g>,
        gateway: &'g Gateway,
        role: Role,
        hello: Vec<HostPort>,
        allow_from: &[IpNet],
    ) -> Result<Vec<HostPort>> {
        let req = pb::Request {
            uid: self.uid.to_string(),
            role: role.as_str().into(),
            num_conn: self.num_conn,
            rate: self.rate,
            allow_from: allow_from.iter().map(ToString::to_string).collect(),
            lifetime_secs: self.lifetime.map_or(0, |d| d.as_secs().max(1)),
        };
        // The hello names the producer's side; the Python client sends it with role PROD for
        // both roles.
        let hello = (!hello.is_empty()).then(|| pb::Hello {
            uid: self.uid.to_string(),
            prod_listeners: address::to_strings(&hello),
            role: Role::Prod.as_str().into(),
        });
        match gateway.client.start(req, hello).await {
            Ok(started) => {
                ledger.opened.push(gateway);
                reply_addresses("prod_listeners", &started.prod_listeners)
                    .map_err(|s| gateway.failed(s))
            }
            Err(Refused { status, opened }) => {
                if opened {
                    ledger.opened.push(gateway);
                }
                Err(gateway.failed(status))
            }
        }
    }

    /// The outcome of a setup, after releasing what it opened if it failed. A release that
    /// fails too is only a warning: the first failure is what the user must see.
    async fn settle<T>(&self, ledger: Ledger<'_>, outcome: Result<T>) -> Result<T> {
        if outcome.is_err() {
            for gateway in ledger.opened.iter().rev() {
                self.release(gateway).await;
            }
        }
        outcome
    }

    async fn release(&self, gateway: &Gateway) {
        let uid = self.uid;
        if let Err(status) = gateway.client.release(uid).await {
            (self.warn)(&format!(
                "could not release session {uid} on s2cs {}: {}; release it with \
                 `scistream req release --s2cs {} {uid}`",
                gateway.s2cs,
                status.message(),
                gateway.s2cs
            ));
        }
    }

    /// A hop credential must not cross a network in clear: whoever read it could read the
    /// stream. Checked before anything is opened.
    fn refuse_credentials_in_clear(&self, carriers: &[&Gateway]) -> Result<()> {
        if self.hop == HopPolicy::Plaintext {
            return Ok(());
        }
        match carriers.iter().find(|gateway| gateway.client.in_clear()) {
            None => Ok(()),
            Some(gateway) => Err(Failure::Usage(format!(
                "the hop credential of session {} would cross the plaintext control channel to \
                 s2cs {} (--no-tls) in clear, and whoever read it on the way could read the \
                 stream: talk TLS to that server (drop --no-tls, and run the server without \
                 it), or, on a network you trust, pass --plaintext-hop",
                self.uid, gateway.s2cs
            ))
            .into()),
        }
    }

    /// With authentication off on the PROD gateway, the session is anybody's.
    fn warn_if_open(&self, prod: &Gateway) {
        if prod.client.auth_off() {
            (self.warn)(&format!(
                "s2cs {} has authentication off: anyone who can reach its control port can see \
                 session {}, redirect it (and so read its stream) and release it; ask the \
                 gateway's operator to turn authentication on (a client secret)",
                prod.s2cs, self.uid
            ));
        }
    }

    /// The PROD session's hop credential (encrypting its hop), unless the hop is to be
    /// plaintext or the PROD gateway lacks the encrypted hop (its session then is plaintext
    /// from the start).
    async fn arm(&self, prod: &Gateway) -> Result<Option<pb::HopCredential>> {
        if self.hop == HopPolicy::Plaintext {
            return Ok(None);
        }
        match prod.client.arm_hop(self.uid, false).await {
            Ok(credential) => Ok(Some(credential)),
            Err(status) if status.code() == Code::Unimplemented => {
                self.refuse_if_required(prod)?;
                self.warn_plaintext(prod);
                Ok(None)
            }
            Err(status) => Err(prod.failed(status)),
        }
    }

    /// Gives the CONS session its targets, over the encrypted hop when there is a
    /// `credential`. A CONS gateway without the encrypted hop fails this unless the policy
    /// allows turning the PROD session's hop plaintext.
    async fn update_cons(
        &self,
        cons: &Gateway,
        prod: Option<&Gateway>,
        targets: Vec<HostPort>,
        credential: Option<pb::HopCredential>,
    ) -> Result<Opened> {
        let Some(credential) = credential else {
            return self.update_plain(cons, targets).await;
        };
        let role = Role::Cons.as_str();
        let update = Some(credential.clone());
        match cons.client.update(self.uid, role, &targets, update).await {
            Ok(routed) => Ok(Opened {
                routed,
                credential: Some(credential),
            }),
            Err(status) if status.code() == Code::Unimplemented => {
                self.downgrade(cons, prod).await?;
                self.update_plain(cons, targets).await
            }
            Err(status) => Err(cons.failed(status)),
        }
    }

    async fn update_plain(&self, cons: &Gateway, targets: Vec<HostPort>) -> Result<Opened> {
        let role = Role::Cons.as_str();
        let routed = cons.client.update(self.uid, role, &targets, None).await;
        let routed = routed.map_err(|s| cons.failed(s))?;
        Ok(Opened {
            routed,
            credential: None,
        })
    }

    /// Turns the encrypted PROD session's hop plaintext for a CONS gateway without the
    /// encrypted hop, only when the user allowed it.
    async fn downgrade(&self, cons: &Gateway, prod: Option<&Gateway>) -> Result<()> {
        self.refuse_if_required(cons)?;
        if self.hop != HopPolicy::FallBack {
            bail!(
                "{}; the PROD session's hop is encrypted, and it stays so: turning it plaintext \
                 would let anyone who reaches its listeners read the stream. Upgrade that \
                 gateway, or, if the network between the gateways is trusted, run again as \
                 `{} --allow-plaintext-fallback`",
                lacks_encryption(cons),
                self.command
            );
        }
        self.warn_plaintext(cons);
        if let Some(prod) = prod {
            let plaintext = prod.client.arm_hop(self.uid, true).await;
            plaintext.map_err(|s| prod.failed(s))?;
        }
        Ok(())
    }

    fn refuse_if_required(&self, gateway: &Gateway) -> Result<()> {
        if self.hop == HopPolicy::Required {
            bail!(
                "{}, and --require-encryption refuses a plaintext hop: upgrade that gateway, or \
                 drop --require-encryption on a network you trust",
                lacks_encryption(gateway)
            );
        }
        Ok(())
    }

    fn warn_plaintext(&self, gateway: &Gateway) {
        (self.warn)(&format!(
            "{}: session {} relays the gateway-to-gateway hop in clear; pass \
             --require-encryption to refuse instead",
            lacks_encryption(gateway),
            self.uid
        ));
    }
}

fn lacks_encryption(gateway: &Gateway) -> String {
    format!(
        "s2cs {} does not offer the encrypted hop (a SciStream 1.2 server?)",
        gateway.s2cs
    )
}
