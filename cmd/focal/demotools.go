package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/spf13/cobra"
)

// demoToolsAddr is where `make run` serves the demo agent's order lookup;
// the demo bundle's tool points here.
const demoToolsAddr = "127.0.0.1:8081"

func demoToolsCommand() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "demo-tools",
		Short: "Serve the demo agent's order-lookup tool (for make run; never part of serve)",
		Long: "Serve POST /orders/lookup, the webhook the demo agent's order_lookup tool calls: it answers " +
			`{"variables": {"item_name": ...}} for an order number AC- followed by six digits, 404 otherwise. ` +
			"Focal reaches it only when its host is in FOCAL_TOOLS_ALLOWED_HOSTS, as make run sets it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "demo order lookup on http://%s/orders/lookup\n", ln.Addr())
			srv := &http.Server{Handler: demoTools(), ReadHeaderTimeout: 5 * time.Second}
			go func() {
				<-cmd.Context().Done()
				_ = srv.Close()
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", demoToolsAddr, "address to listen on")
	return cmd
}

// demoItems are what the demo store sells; an order's item is picked by
// its number, so every well-formed order number has one.
var demoItems = []string{"navy wool coat", "blue denim jacket", "black leather boots", "green linen shirt",
	"grey hoodie", "red summer dress", "white trainers", "brown corduroy trousers"}

var demoOrderID = regexp.MustCompile(`^AC-(\d{6})$`)

// demoTools is the order lookup: the order's item by its number.
func demoTools() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders/lookup", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Variables struct {
				OrderID string `json:"order_id"`
			} `json:"variables"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
			http.Error(w, "body must be a tool call: "+err.Error(), http.StatusBadRequest)
			return
		}
		m := demoOrderID.FindStringSubmatch(in.Variables.OrderID)
		if m == nil {
			http.Error(w, "no such order", http.StatusNotFound)
			return
		}
		sum := 0
		for _, d := range m[1] {
			sum += int(d - '0')
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"variables": map[string]any{"item_name": demoItems[sum%len(demoItems)]}})
	})
	return mux
}
