// Command realtime measures Pulse's realtime layer from outside: it starts
// `pulse serve` on embedded SQLite, opens many WebSocket connections for
// one user, reads the server's resident memory with them idle, then has
// the server publish events (a run's run.created) and times how long the
// last connection waits for each.
//
// Usage: go run ./bench/realtime -bin bench/out/pulse -conns 10000 -rounds 5
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	bin := flag.String("bin", "bench/out/pulse", "pulse binary")
	conns := flag.Int("conns", 10000, "WebSocket connections")
	rounds := flag.Int("rounds", 5, "events to time")
	memLimit := flag.String("gomemlimit", "", "GOMEMLIMIT for the server (e.g. 250MiB); empty: none")
	idleFor := flag.Duration("idle", 3*time.Second, "how long the connections sit idle before memory is read (over 2 min lets the runtime's periodic GC run)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "pulse-realtime-")
	check(err)
	defer os.RemoveAll(dir)
	port := freePort()
	base := "http://127.0.0.1:" + port
	cmd := exec.Command(*bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PULSE_ADDR=127.0.0.1:" + port, "PULSE_DATA_DIR=" + filepath.Join(dir, "data"),
		"PULSE_LOG_LEVEL=warn", "PULSE_REALTIME_MAX_CONNECTIONS=" + strconv.Itoa(*conns+10)}
	if *memLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+*memLimit)
	}
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	waitReady(base)
	token := signUp(base)
	idle := readMemory(cmd.Process.Pid)

	// Every connection counts each run.created it receives.
	var received atomic.Int64
	var mu sync.Mutex
	var last time.Time
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wsURL := "ws://127.0.0.1:" + port + "/api/v1/ws"
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	start := time.Now()
	for i := 0; i < *conns; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
			<-sem // at most 64 handshakes at once
			check(err)
			wg.Done()
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				if bytes.Contains(data, []byte(`"type":"run.created"`)) {
					now := time.Now()
					received.Add(1)
					mu.Lock()
					if now.After(last) {
						last = now
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("opened %d WebSocket connections in %s\n", *conns, time.Since(start).Round(time.Millisecond))
	time.Sleep(*idleFor)
	open := readMemory(cmd.Process.Pid)
	fmt.Printf("server RSS idle: %.1f MiB (anonymous %.1f); with %d connections idle for %s: %.1f MiB (anonymous %.1f), %.1f KiB per connection\n",
		idle.total, idle.anon, *conns, *idleFor, open.total, open.anon, (open.total-idle.total)*1024/float64(*conns))

	fmt.Println("server runtime:", runtimeStats(base))

	agentID := createAgent(base, token)
	var fan, total []time.Duration
	for r := 1; r <= *rounds; r++ {
		sent := time.Now()
		startRun(base, token, agentID)
		want := int64(r * *conns)
		for received.Load() < want {
			time.Sleep(time.Millisecond)
			if time.Since(sent) > time.Minute {
				fmt.Printf("round %d: only %d of %d received\n", r, received.Load()-int64((r-1)**conns), *conns)
				os.Exit(1)
			}
		}
		mu.Lock()
		d := last.Sub(sent)
		mu.Unlock()
		total = append(total, d)
		fan = append(fan, d)
		time.Sleep(500 * time.Millisecond)
	}
	slices.Sort(total)
	fmt.Printf("one run.created to all %d connections, from the POST that caused it to the last delivery: median %s [%s-%s] over %d rounds\n",
		*conns, total[len(total)/2].Round(time.Millisecond), total[0].Round(time.Millisecond), total[len(total)-1].Round(time.Millisecond), len(total))
	_ = fan
}

// runtimeStats picks the Go runtime's own figures from /metrics.
func runtimeStats(base string) string {
	res, err := http.Get(base + "/metrics")
	check(err)
	defer res.Body.Close()
	var out []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		for _, name := range []string{"go_goroutines ", "go_memstats_heap_inuse_bytes ", "go_memstats_stack_inuse_bytes ", "go_memstats_heap_idle_bytes "} {
			if v, ok := strings.CutPrefix(sc.Text(), name); ok {
				f, _ := strconv.ParseFloat(v, 64)
				if strings.HasSuffix(name, "bytes ") {
					out = append(out, fmt.Sprintf("%s%.1f MiB", name, f/(1<<20)))
				} else {
					out = append(out, name+v)
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

type memory struct{ total, anon float64 }

func readMemory(pid int) memory {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		for key, dst := range map[string]*float64{"VmRSS:": &m.total, "RssAnon:": &m.anon} {
			if v, ok := strings.CutPrefix(line, key); ok {
				kb, _ := strconv.Atoi(strings.Fields(v)[0])
				*dst = float64(kb) / 1024
			}
		}
	}
	return m
}

func waitReady(base string) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
	}
	panic("pulse did not become ready")
}

func signUp(base string) string {
	email := fmt.Sprintf("bench%d@example.com", time.Now().UnixNano())
	post(base+"/api/v1/auth/register", "", `{"email":"`+email+`","password":"correct horse battery"}`, nil)
	res, err := http.PostForm(base+"/api/v1/auth/token", url.Values{"grant_type": {"password"}, "username": {email}, "password": {"correct horse battery"}})
	check(err)
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	check(json.NewDecoder(res.Body).Decode(&tok))
	return tok.AccessToken
}

func createAgent(base, token string) string {
	var a struct{ ID string }
	post(base+"/api/v1/agents", token, `{"name":"Bench","instructions":"x","model":"openai/gpt-4o-mini"}`, &a)
	return a.ID
}

// startRun starts a run; with no provider configured it fails at once,
// after publishing run.created.
func startRun(base, token, agentID string) {
	post(base+"/api/v1/agents/"+agentID+"/runs", token, `{"input":"hi"}`, nil)
}

func post(u, token, body string, out any) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	check(err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	check(err)
	defer res.Body.Close()
	b, _ := io.ReadAll(bufio.NewReader(res.Body))
	if res.StatusCode >= 300 {
		panic(fmt.Sprintf("POST %s: %d %s", u, res.StatusCode, b))
	}
	if out != nil {
		check(json.Unmarshal(b, out))
	}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
