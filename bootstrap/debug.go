package bootstrap

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// DebugConfig enables the profiling listener.
type DebugConfig struct {
	// Addr serves net/http/pprof when set (e.g. 127.0.0.1:6060). Keep it
	// on loopback or a private network: profiles reveal internals.
	Addr string `env:"DEBUG_ADDR" yaml:"addr"`
}

// debugListener serves pprof on its own address, apart from the API.
func debugListener(lc fx.Lifecycle, cfg Config, log *zap.Logger) {
	if cfg.Debug.Addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: cfg.Debug.Addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.Debug.Addr)
			if err != nil {
				return err
			}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Warn("debug listener stopped", zap.Error(err))
				}
			}()
			log.Info("pprof listening", zap.String("addr", ln.Addr().String()))
			return nil
		},
		OnStop: srv.Shutdown,
	})
}
