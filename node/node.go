package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/taxii"
	"github.com/ctimesh/ctimesh/trust"
)

// Version is the ctinode version reported by the admin API.
var Version = "0.1.0-dev"

// Options are the parts of a node that are not configuration: injected
// dependencies.
type Options struct {
	// Logger receives all logs; each subsystem adds a component attribute.
	Logger *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
	// LogLevel, when set, is the level of Logger's handler: Reload sets it
	// to the configured log.level (LogConfig.NewLoggerVar).
	LogLevel *slog.LevelVar
	// UnsafeGossip turns on pubsub features the node otherwise refuses
	// (flood publishing, direct peers, floodsub). Leak tests only.
	UnsafeGossip gossip.UnsafeOptions
}

// Node is one ctimesh node: the composition root wiring trust, ledger,
// gossip and the admin API around a libp2p host. It owns their lifecycles.
type Node struct {
	cfg Config
	log *slog.Logger
	id  *identity
	now func() time.Time

	unsafeGossip gossip.UnsafeOptions // leak tests only

	store    *ledger.Store
	trust    *trust.Manager
	keyring  *trust.Keyring
	auditLog *trust.Audit
	reg      *prometheus.Registry
	metrics  *metrics
	obs      *observer     // decisions, events and counts for the operator (observe.go)
	hostile  *scoreGuard   // graylisted peers: disconnect and cooldown (resources.go)
	quality  *qualityState // feedback aggregates and feed quality (quality.go)

	// Set by Start.
	host      host.Host
	handshake *trust.Handshake
	router    *gossip.Router
	direct    *gossip.Direct
	syncer    *gossip.Syncer
	keyReqs   keyRequests
	admin     *adminapi.Server
	adminAddr net.Addr
	started   time.Time

	pubMu sync.Mutex // serialises own entries so sequences stay gapless

	logLevel    *slog.LevelVar // nil: the level is not the node's to change
	overridesMu sync.Mutex     // serialises applying trust overrides
	overrides   trustOverrides // what the configuration last applied (config_trust.go)
	taxii       *taxii.Server  // nil unless taxii.listen is set (taxii.go)
	taxiiAddr   net.Addr

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New loads the node's identity and opens its ledger. It does not touch the
// network until Start.
func New(cfg Config, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := opts.Now
	if clock == nil {
		clock = now
	}
	id, err := loadIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := id.cred.Verify(id.fed, clock()); err != nil {
		return nil, fmt.Errorf("%w: own credential: %w", ErrNoCredential, err)
	}
	log = log.With("peer", id.id.String())

	store, err := ledger.Open(ledgerOptions(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	mgr, err := trust.NewManager(trust.ManagerConfig{
		Federation:     id.fed,
		Self:           id.id,
		SelfCredential: id.cred,
		Logger:         log.With("component", "trust"),
		Now:            clock,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	n := &Node{
		cfg:   cfg,
		log:   log.With("component", "node"),
		id:    id,
		now:   clock,
		store: store,
		trust: mgr,
		reg:   prometheus.NewRegistry(),

		logLevel:     opts.LogLevel,
		unsafeGossip: opts.UnsafeGossip,
	}
	n.metrics = newMetrics(n.reg)
	n.obs = newObserver(n)
	fail := func(err error) (*Node, error) {
		if n.auditLog != nil {
			n.auditLog.Close()
		}
		mgr.Close()
		store.Close()
		return nil, err
	}
	if err := n.loadTrust(); err != nil {
		return fail(err)
	}
	if err := n.applyTrustConfig(cfg.Trust); err != nil {
		return fail(err)
	}
	n.keyring, err = trust.NewKeyring(trust.KeyringConfig{
		SelfCredential: id.cred,
		EncryptionKey:  id.enc,
		Store:          store,
		Logger:         log,
		Now:            clock,
	})
	if err != nil {
		return fail(fmt.Errorf("open keyring: %w", err))
	}
	n.auditLog, err = trust.OpenAudit(trust.AuditConfig{
		Store:  store,
		Logger: log.With("component", "audit"),
		Now:    clock,
	})
	if err != nil {
		return fail(fmt.Errorf("open audit log: %w", err))
	}
	// After loadTrust, so a restart does not record stored credentials again.
	if err := n.auditLog.Follow(mgr); err != nil {
		return fail(fmt.Errorf("audit trust changes: %w", err))
	}
	if n.quality, err = newQuality(n); err != nil {
		return fail(err)
	}
	return n, nil
}

// PeerID is the node's libp2p identity.
func (n *Node) PeerID() peer.ID { return n.id.id }

// Team is the team named in the node's credential.
func (n *Node) Team() string { return n.id.cred.Team }

// Credential is the node's own credential.
func (n *Node) Credential() *trust.Credential { return n.id.cred }

// Start brings up the libp2p host, the credential handshake, gossip, the
// admin API and the bootstrap dialer.
func (n *Node) Start() error {
	if n.ctx != nil {
		return fmt.Errorf("node already started")
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.started = n.now()

	opts := []libp2p.Option{
		libp2p.Identity(n.id.key),
		libp2p.ListenAddrStrings(n.cfg.Listen...),
		libp2p.ConnectionGater(n.scoreGater()),
		resourceManager(),
		libp2p.DisableRelay(),
		libp2p.PrometheusRegisterer(n.reg),
		libp2p.UserAgent("ctinode/" + Version),
	}
	if f := announceFactory(n.cfg.Announce); f != nil {
		opts = append(opts, libp2p.AddrsFactory(f))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return fmt.Errorf("start libp2p host: %w", err)
	}
	n.host = h

	n.handshake = trust.NewHandshake(h, n.trust, n.id.credRaw, trust.HandshakeConfig{
		Timeout: n.cfg.HandshakeTimeout,
		// Set before handshake.Start, so the callback sees the syncer.
		OnVerified: func(p peer.ID) {
			if n.syncer != nil {
				n.syncer.PeerReady(p)
			}
		},
	}, n.log.With("component", "handshake"))

	router, err := gossip.New(h, gossip.Config{
		Federation: n.id.fed.ID(),
		Team:       n.id.cred.Team,
		Policy:     policy{n: n},
		Store:      n.store,
		Sink:       n,
		Observer:   n.observe,
		Logger:     n.log.With("component", "gossip"),
		Score:      scoreSource{n: n},
		// Pubsub hears a peer's subscriptions only once its credential is
		// verified, so the subscription filter judges them knowing it.
		Admit:  n.handshake.WaitVerified,
		Unsafe: n.unsafeGossip,
	})
	if err != nil {
		n.Close()
		return fmt.Errorf("start gossip: %w", err)
	}
	n.router = router
	direct, err := gossip.NewDirect(h, gossip.DirectConfig{
		Federation: n.id.fed.ID(),
		Policy:     policy{n: n},
		Sink:       n,
		Observer:   n.observe,
		Logger:     n.log.With("component", "direct"),
	})
	if err != nil {
		n.Close()
		return fmt.Errorf("start direct delivery: %w", err)
	}
	n.direct = direct
	if err := n.startSync(); err != nil {
		n.Close()
		return fmt.Errorf("start sync: %w", err)
	}
	if err := router.SetFeeds(n.ownFeeds()); err != nil {
		n.Close()
		return fmt.Errorf("join topics: %w", err)
	}
	// Before any peer connects, so the first sync with each already
	// offers it (relay.go).
	if err := n.publishOwnCredential(n.ctx); err != nil {
		n.Close()
		return err
	}
	// Subscribe before the handshake starts: the credentials it learns
	// from the first peers are events trustLoop must persist and act on.
	// The observer's event stream takes its own subscription for the same
	// reason: the dashboard should see the first peers verified.
	trustEvents, unsubscribe := n.trust.Subscribe()
	obsEvents, obsUnsubscribe := n.trust.Subscribe()
	looping := false
	defer func() {
		if !looping {
			unsubscribe()
			obsUnsubscribe()
		}
	}()
	n.handshake.Start()

	token, err := adminapi.NewToken()
	if err != nil {
		n.Close()
		return err
	}
	roToken, err := n.readOnlyToken()
	if err != nil {
		n.Close()
		return err
	}
	admin, err := adminapi.New(adminapi.Config{
		Listen:        n.cfg.Admin,
		Token:         token,
		ReadOnlyToken: roToken,
		MaxBodyBytes:  n.cfg.MaxPublishBytes,
		Metrics:       promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}),
		Backup:        backupHandler{n},
		Logger:        n.log.With("component", "adminapi"),
	}, backend{n: n})
	if err != nil {
		n.Close()
		return err
	}
	n.admin = admin
	addr, err := admin.Start()
	if err != nil {
		n.Close()
		return fmt.Errorf("start admin api: %w", err)
	}
	n.adminAddr = addr
	if err := adminapi.WriteRuntimeFiles(n.cfg.DataDir, addr.String(), token); err != nil {
		n.Close()
		return err
	}
	if err := n.startTaxii(); err != nil {
		n.Close()
		return err
	}

	n.wg.Add(3)
	go n.dialLoop()
	go n.trustLoop(trustEvents, unsubscribe)
	looping = true
	go n.obs.loop(obsEvents, obsUnsubscribe)
	n.log.Info("node started", "team", n.Team(), "addrs", n.ListenAddrs(), "admin", addr.String())
	return nil
}

// AdminAddr is the admin API's address once started.
func (n *Node) AdminAddr() net.Addr { return n.adminAddr }

// Host is the libp2p host once started (tests and the demo use it).
func (n *Node) Host() host.Host { return n.host }

// ListenAddrs are the full multiaddrs (with /p2p/) peers can dial.
func (n *Node) ListenAddrs() []string {
	if n.host == nil {
		return nil
	}
	var out []string
	for _, a := range n.host.Addrs() {
		out = append(out, a.String()+"/p2p/"+n.id.id.String())
	}
	return out
}

// Close stops everything Start started and closes the ledger. It is
// idempotent and waits for every goroutine.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		if n.admin != nil {
			n.admin.Close()
			adminapi.RemoveRuntimeFiles(n.cfg.DataDir)
		}
		if n.taxii != nil {
			n.taxii.Close()
		}
		if n.handshake != nil {
			n.handshake.Close()
		}
		if n.router != nil {
			n.router.Close()
		}
		if n.direct != nil {
			n.direct.Close()
		}
		if n.syncer != nil {
			n.syncer.Close()
		}
		if n.quality != nil {
			n.quality.close()
		}
		n.wg.Wait()
		if n.host != nil {
			if err := n.host.Close(); err != nil {
				n.closeErr = err
			}
		}
		n.trust.Close()
		if n.auditLog != nil {
			if err := n.auditLog.Close(); err != nil {
				n.closeErr = err
			}
		}
		if err := n.store.Close(); err != nil && n.closeErr == nil {
			n.closeErr = err
		}
	})
	return n.closeErr
}

// dialLoop keeps the node connected to its bootstrap peers.
func (n *Node) dialLoop() {
	defer n.wg.Done()
	var infos []peer.AddrInfo
	for _, a := range n.cfg.Peers {
		ai, err := parsePeerAddr(a)
		if err != nil {
			continue // Validate already refused these
		}
		if ai.ID == n.id.id {
			continue
		}
		infos = append(infos, *ai)
	}
	if len(infos) == 0 {
		return
	}
	t := time.NewTicker(n.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		for _, ai := range infos {
			if n.connected(ai.ID) {
				continue
			}
			if _, err := n.trust.Credential(ai.ID); err != nil && !isUnknown(err) {
				continue // revoked, blocked or expired: the gater would refuse anyway
			}
			ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
			if err := n.host.Connect(ctx, ai); err != nil {
				n.log.Debug("dial bootstrap peer", "peer", ai.ID, "err", err)
			}
			cancel()
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func parsePeerAddr(s string) (*peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w (want a multiaddr ending in /p2p/<peer id>)", s, err)
	}
	return ai, nil
}

func now() time.Time { return time.Now() }

// Verified reports whether p is connected and presented a valid credential.
func (n *Node) Verified(p peer.ID) bool {
	return n.handshake != nil && n.connected(p) && n.handshake.Verified(p)
}

// Feeds are the feeds this node subscribes to.
func (n *Node) Feeds() []envelope.Feed { return n.ownFeeds() }

// TopicPeers lists the peers gossip sees on feed's topic.
func (n *Node) TopicPeers(f envelope.Feed) []peer.ID {
	if n.router == nil {
		return nil
	}
	return n.router.TopicPeers(f)
}

// Objects queries the node's ledger: everything it holds, at every level
// and, unless q names groups, in every group (the operator's own view).
func (n *Node) Objects(q ledger.Query) (ledger.Page, error) {
	if len(q.Groups) == 0 {
		q.AllGroups = true
	}
	return n.store.Objects(q)
}
