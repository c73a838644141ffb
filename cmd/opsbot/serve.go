package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opsbot/opsbot/actiontoken"
	"github.com/opsbot/opsbot/bus"
	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify"
	"github.com/opsbot/opsbot/ops"
	"github.com/opsbot/opsbot/silences"
	"github.com/opsbot/opsbot/store"
	"github.com/opsbot/opsbot/upgrade"
)

func serve(ctx context.Context, stopSignals func(), args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default: the built-in defaults)")
	listen := fs.String("listen", "", "HTTP address, overriding http.listen")
	dataDir := fs.String("data", "", "data directory, overriding data_dir")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("serve takes no arguments, only flags")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.HTTP.Listen = *listen
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(cfg, stderr)
	return runServer(ctx, stopSignals, cfg, log)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level, _ := config.ParseLevel(cfg.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func runServer(ctx context.Context, stopSignals func(), cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	rules := incidents.Rules{
		ReopenWindow:     cfg.Incidents.ReopenWindow,
		MaxSnooze:        cfg.Incidents.MaxSnooze,
		DefaultSeverity:  incidents.Severity(cfg.Incidents.DefaultSeverity),
		AckTimeout:       cfg.Incidents.AckTimeout,
		FlapChanges:      cfg.Incidents.FlapChanges,
		FlapWindow:       cfg.Incidents.FlapWindow,
		StormOpens:       cfg.Incidents.StormOpens,
		StormWindow:      cfg.Incidents.StormWindow,
		RepeatEscalation: cfg.Notify.Escalation.Repeat,
	}
	for _, st := range cfg.Notify.Escalation.Steps {
		rules.Escalation = append(rules.Escalation, st.After)
	}
	key, err := actionKey(cfg)
	if err != nil {
		return err
	}
	signer := &actiontoken.Signer{Key: key, TTL: cfg.HTTP.ActionTTL, Now: time.Now}
	targetNames := make([]string, 0, len(cfg.Notify.Ntfy)+len(cfg.Notify.Discord))
	for _, t := range cfg.Notify.Ntfy {
		targetNames = append(targetNames, t.Name)
	}
	for _, t := range cfg.Notify.Discord {
		targetNames = append(targetNames, t.Name)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "opsbot.db"), store.Options{
		Synchronous: cfg.Store.Synchronous, Rules: rules, Targets: targetNames, Routes: cfg.Notify.IncidentRoutes(targetNames),
	})
	if err != nil {
		return err
	}
	notifyTargets, err := targets(cfg, signer, st)
	if err != nil {
		st.Close()
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the database", "err", err)
		}
		log.Info("database closed")
	}()

	n := cfg.NATS
	b, err := bus.Open(ctx, bus.Config{
		URL: n.URL, CredentialsFile: n.CredentialsFile, Listen: n.Listen, SyncAlways: n.SyncAlways,
		StoreDir: filepath.Join(cfg.DataDir, "nats"), Stream: n.Stream, Replicas: n.Replicas,
		DuplicateWindow: n.DuplicateWindow, MaxAge: n.MaxAge, AckWait: n.AckWait, BatchSize: n.BatchSize,
	}, log)
	if err != nil {
		return err
	}
	defer func() {
		b.Close()
		log.Info("nats closed")
	}()

	results := &bus.Results{}
	metrics := handlers.NewMetrics(handlers.StateSource{OpenCounts: st.OpenCounts, Lag: b.Lag})
	tokens := make([]handlers.Token, 0, len(cfg.HTTP.Tokens))
	for _, t := range cfg.HTTP.Tokens {
		tokens = append(tokens, handlers.Token{Name: t.Name, Value: t.Token.Reveal(), Permissions: t.Permissions})
	}
	hooks := sourceHooks(&cfg.Sources, rules.DefaultSeverity)
	raw := map[string]bus.RawDecoder{}
	for _, h := range hooks {
		raw[h.Name] = h.Decode
	}
	var (
		silencer ops.Silencer
		alerts   deploy.Alerts
	)
	if u := cfg.Alertmanager.URL; u != "" {
		sc, err := silences.New(u, cfg.Alertmanager.Token.Reveal(), &http.Client{Timeout: 15 * time.Second})
		if err != nil {
			return err
		}
		silencer, alerts = sc, sc
	}
	ready := func(ctx context.Context) error {
		if err := b.Ready(ctx); err != nil {
			return err
		}
		return st.Ping(ctx)
	}
	service := &ops.Service{
		Log: log, Publisher: b, Reader: st, Waiter: results, WaitTimeout: cfg.HTTP.WaitTimeout, Rules: rules, NewID: newID,
		Silencer: silencer, Windows: st, Audit: st, Ready: ready, Reports: st,
	}
	api := &handlers.Server{
		Log: log, Publisher: b, Reader: st, Waiter: results, Metrics: metrics, Ready: ready, Ops: service,
		Tokens: tokens, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, PublishTimeout: n.PublishTimeout,
		DefaultSeverity: rules.DefaultSeverity, NewID: newID,
		Hooks: hooks, Actions: signer,
		Notifications: func(ctx context.Context, state string, limit int) (any, error) {
			return st.ListNotifications(ctx, state, limit)
		},
	}

	dispatcher := &notify.Dispatcher{
		Store: st, Targets: notifyTargets, GiveUpAfter: cfg.Notify.GiveUpAfter, MinBackoff: cfg.Notify.MinBackoff,
		MaxBackoff: cfg.Notify.MaxBackoff, SendTimeout: 20 * time.Second, Log: log, Now: time.Now, Result: metrics.Notified,
		Concurrency: 8,
	}
	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	dispatchDone, timersDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(dispatchDone)
		dispatcher.Run(dispatchCtx)
	}()
	// The dispatcher stops after the reducer has drained and before NATS
	// and the database close; what it did not send is sent after a restart.
	defer func() {
		stopDispatch()
		<-dispatchDone
		<-timersDone
		log.Info("notifications stopped")
	}()
	if len(targetNames) > 0 {
		log.Info("notification targets", "targets", strings.Join(targetNames, ", "), "buttons", cfg.HTTP.PublicURL != "")
	}

	// Timers go off as commands through the reducer; they stop with the
	// dispatcher, after the reducer has drained.
	timersWake := make(chan struct{}, 1)
	go func() {
		defer close(timersDone)
		runTimers(dispatchCtx, st, b, timersWake, log)
	}()

	reducerCtx, stopReducer := context.WithCancel(context.Background())
	reducerDone := make(chan error, 1)
	go func() {
		reducerDone <- b.Reduce(reducerCtx, st, rules.DefaultSeverity, bus.Hooks{
			Applied: func(batch []incidents.Envelope, out []incidents.Outcome) {
				metrics.Applied(batch, out)
				results.Deliver(out)
				dispatcher.Wake()
				select {
				case timersWake <- struct{}{}:
				default:
				}
			},
			Rejected: metrics.Rejected,
			Raw:      raw,
		})
	}()
	// Whatever happens below, the reducer is drained before NATS and the
	// database close (the deferred calls above run after this one).
	defer func() {
		stopReducer()
		select {
		case err := <-reducerDone:
			if err != nil {
				log.Error("reducer", "err", err)
			}
		case <-time.After(30 * time.Second):
			log.Error("reducer did not drain in 30s; unacknowledged messages will be redelivered")
		}
		log.Info("reducer drained")
	}()

	checksCtx, stopChecksCtx := context.WithCancel(context.Background())
	stopChecks, err := startChecks(checksCtx, cfg, b, log)
	if err != nil {
		stopChecksCtx()
		return err
	}
	// Checks stop before the reducer drains: what they publish is stored.
	defer func() {
		stopChecksCtx()
		stopChecks()
		log.Info("checks stopped")
	}()

	deploys, err := deployService(cfg, st, alerts, b, log)
	if err != nil {
		return err
	}
	var (
		interrupted         []deploy.Run
		interruptedUpgrades []upgrade.Apply
	)
	if deploys != nil {
		if interrupted, err = deploys.Start(context.Background()); err != nil {
			return err
		}
		for _, r := range interrupted {
			log.Warn("deploy: a run was interrupted by opsbot stopping; its lock is released", "run", r.ID, "target", r.Target, "to", r.To)
		}
		service.Deploys = deploys
		log.Info("deploys", "repo", cfg.Repo.URL, "branch", cfg.Repo.Branch, "targets", len(deploys.Targets))
		if upgrades := upgradeService(cfg, deploys.Repo, st, log); upgrades != nil {
			if err := upgrades.Start(context.Background()); err != nil {
				return err
			}
			service.Upgrades = upgrades
			log.Info("upgrade plans", "hosts", strings.Join(cfg.Upgrade.Hosts, " "), "branch", cfg.Upgrade.Branch)
			if err := st.FailUnfinishedReports(context.Background(), "opsbot stopped while the report was being made"); err != nil {
				return err
			}
			if ap := applier(cfg, upgrades, deploys, st, log); ap != nil {
				stopped, err := ap.Start(context.Background())
				if err != nil {
					return err
				}
				for _, a := range stopped {
					log.Warn("upgrade: interrupted by opsbot stopping; check the node and apply a new plan", "progress", a.Progress())
				}
				interruptedUpgrades = stopped
				service.Applier = ap
				defer ap.Stop()
			}
			rep := reporter(cfg, upgrades, st, notifyTargets, b, log)
			service.Reporter = rep
			stopSchedule := func() <-chan struct{} { return nil }
			if cfg.Reports.Upgrade.Enabled {
				if stopSchedule, err = scheduleReport(cfg, rep, log); err != nil {
					return err
				}
			}
			// No new report; the plan being made is stopped, which ends a
			// report being made; then both are waited for.
			defer func() {
				done := stopSchedule()
				upgrades.Stop()
				if done != nil {
					<-done
				}
				rep.Wait()
			}()
		}
		// Runs in progress are interrupted before the reducer drains.
		defer func() {
			deploys.Stop()
			log.Info("deploys stopped")
		}()
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	hs := &http.Server{
		Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Serve(ln) }()

	natsURL := b.ClientURL()
	if natsURL == "" {
		natsURL = "in-process only"
	}
	log.Info("opsbot started", "version", version, "http_addr", ln.Addr().String(), "nats", natsURL,
		"data_dir", cfg.DataDir, "tokens", len(tokens))
	if len(tokens) == 0 {
		log.Warn("no http.tokens configured: hooks and API are open to anyone on this machine (loopback only)")
	}
	stopBot, err := startBot(cfg, service, deploys, interrupted, interruptedUpgrades, log)
	if err != nil {
		return err
	}

	select {
	case <-ctx.Done():
	case err := <-httpDone:
		return fmt.Errorf("http: %w", err)
	}
	// From here a second SIGTERM or Ctrl-C ends the process at once; what
	// was answered 2xx is in the stream and is applied after a restart.
	stopSignals()
	log.Info("shutting down: stopping intake")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	stopBot()
	return nil
}
