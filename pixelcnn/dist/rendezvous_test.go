package dist

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestTorchrunFromEnv(t *testing.T) {
	full := map[string]string{"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		ok      bool
		wantErr string // a substring of the error: the variable it names
		want    TorchrunEnv
	}{
		{name: "not torchrun", env: map[string]string{"LOCAL_RANK": "0"}},
		{name: "full", env: full, ok: true, want: TorchrunEnv{Rank: 1, WorldSize: 4, LocalRank: 1, MasterAddr: "node0", MasterPort: 29500, Timeout: DefaultRendezvousTimeout}},
		{name: "one rank needs no master", env: map[string]string{"RANK": "0", "WORLD_SIZE": "1"}, ok: true, want: TorchrunEnv{WorldSize: 1, Timeout: DefaultRendezvousTimeout}},
		{name: "slurm local id", env: with("LOCAL_RANK", ""), ok: true, want: TorchrunEnv{Rank: 1, WorldSize: 4, LocalRank: 1, MasterAddr: "node0", MasterPort: 29500, Timeout: DefaultRendezvousTimeout}},
		{name: "timeout", env: with("PIXELCNN_RENDEZVOUS_TIMEOUT", "7s"), ok: true, want: TorchrunEnv{Rank: 1, WorldSize: 4, LocalRank: 1, MasterAddr: "node0", MasterPort: 29500, Timeout: 7 * time.Second}},
		{name: "rendezvous port", env: with("PIXELCNN_RENDEZVOUS_PORT", "29600"), ok: true, want: TorchrunEnv{Rank: 1, WorldSize: 4, LocalRank: 1, MasterAddr: "node0", MasterPort: 29600, Timeout: DefaultRendezvousTimeout}},
		{name: "no world size", env: with("WORLD_SIZE", ""), ok: true, wantErr: "WORLD_SIZE is not set"},
		{name: "no rank", env: with("RANK", ""), ok: true, wantErr: "RANK is not set"},
		{name: "rank too big", env: with("RANK", "4"), ok: true, wantErr: `RANK="4"`},
		{name: "rank not a number", env: with("RANK", "one"), ok: true, wantErr: `RANK="one"`},
		{name: "world size 0", env: with("WORLD_SIZE", "0"), ok: true, wantErr: `WORLD_SIZE="0"`},
		{name: "bad local rank", env: with("LOCAL_RANK", "-1"), ok: true, wantErr: `LOCAL_RANK="-1"`},
		{name: "no master addr", env: with("MASTER_ADDR", ""), ok: true, wantErr: "MASTER_ADDR is not set"},
		{name: "no master port", env: with("MASTER_PORT", ""), ok: true, wantErr: "MASTER_PORT is not set"},
		{name: "bad master port", env: with("MASTER_PORT", "70000"), ok: true, wantErr: `MASTER_PORT="70000"`},
		{name: "bad timeout", env: with("PIXELCNN_RENDEZVOUS_TIMEOUT", "5"), ok: true, wantErr: "PIXELCNN_RENDEZVOUS_TIMEOUT"},
		{name: "bad rendezvous port", env: with("PIXELCNN_RENDEZVOUS_PORT", "x"), ok: true, wantErr: `PIXELCNN_RENDEZVOUS_PORT="x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "slurm local id" {
				c.env["SLURM_LOCALID"] = "1"
			}
			e, ok, err := TorchrunFromEnv(envOf(c.env))
			if ok != c.ok {
				t.Fatalf("ok %v, want %v", ok, c.ok)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e != c.want {
				t.Fatalf("%+v, want %+v", e, c.want)
			}
		})
	}
}

// listenLocal starts rank 0's listener on 127.0.0.1 port 0 and returns the env of every rank,
// with the real port.
func listenLocal(t *testing.T, n int, timeout time.Duration) (*Rendezvous, []TorchrunEnv) {
	t.Helper()
	r, err := ListenRendezvous(TorchrunEnv{WorldSize: n, MasterAddr: "127.0.0.1", MasterPort: 0, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	port := r.Addr().(*net.TCPAddr).Port
	envs := make([]TorchrunEnv, n)
	for k := range envs {
		envs[k] = TorchrunEnv{Rank: k, WorldSize: n, LocalRank: k, MasterAddr: "127.0.0.1", MasterPort: port, Timeout: timeout}
	}
	return r, envs
}

func TestRendezvousShares(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		id := bytes.Repeat([]byte{byte(n), 0xA5}, 64) // 128 bytes, as NCCL's
		if n == 1 {
			got, err := ShareID(TorchrunEnv{WorldSize: 1, Timeout: time.Second}, func() ([]byte, error) { return id, nil })
			if err != nil || !bytes.Equal(got, id) {
				t.Fatalf("world of 1: %v, %v", got, err)
			}
			continue
		}
		r, envs := listenLocal(t, n, 20*time.Second)
		got := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		// The ranks dial before rank 0 serves, as they may start first.
		for k := 1; k < n; k++ {
			wg.Go(func() { got[k], errs[k] = FetchID(envs[k]) })
		}
		time.Sleep(100 * time.Millisecond)
		errs[0] = r.Serve(id)
		got[0] = id
		wg.Wait()
		for k := range n {
			if errs[k] != nil {
				t.Fatalf("world of %d, rank %d: %v", n, k, errs[k])
			}
			if !bytes.Equal(got[k], id) {
				t.Fatalf("world of %d, rank %d: got another id", n, k)
			}
		}
	}
}

func TestRendezvousDialsUntilRankZeroListens(t *testing.T) {
	// Find a free port, then start rank 0 on it only after rank 1 began dialling.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := TorchrunEnv{WorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: port, Timeout: 20 * time.Second}
	done := make(chan error, 1)
	var got []byte
	go func() {
		e1 := e
		e1.Rank = 1
		var err error
		got, err = FetchID(e1)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	id := []byte("the id")
	if _, err := ShareID(e, func() ([]byte, error) { return id, nil }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || !bytes.Equal(got, id) {
		t.Fatalf("rank 1: %q, %v", got, err)
	}
}

func TestRendezvousTimeouts(t *testing.T) {
	// Rank 1 with nobody listening: an error naming MASTER_ADDR:MASTER_PORT.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := TorchrunEnv{Rank: 1, WorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: port, Timeout: 400 * time.Millisecond}
	start := time.Now()
	_, err = FetchID(e)
	if err == nil || !strings.Contains(err.Error(), "MASTER_ADDR:MASTER_PORT "+e.Addr()) || !strings.Contains(err.Error(), "PIXELCNN_RENDEZVOUS_TIMEOUT") {
		t.Fatalf("error %v, want one naming MASTER_ADDR:MASTER_PORT %s", err, e.Addr())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v, the timeout is %v", d, e.Timeout)
	}
	// Rank 0 of a world of 3 that only rank 2 joins: an error naming rank 1.
	r, envs := listenLocal(t, 3, 800*time.Millisecond)
	go func() { _, _ = FetchID(envs[2]) }()
	err = r.Serve([]byte("id"))
	if err == nil || !strings.Contains(err.Error(), "ranks [1] never connected") {
		t.Fatalf("error %v, want one naming rank 1", err)
	}
}

func TestRendezvousRefusals(t *testing.T) {
	cases := []struct {
		name   string
		rank   int
		size   int
		want   string
		before int // a rank served first
	}{
		{name: "world size", rank: 1, size: 3, want: "WORLD_SIZE=3, rank 0 has WORLD_SIZE=2"},
		{name: "rank twice", rank: 1, size: 3, want: "two processes have RANK=1", before: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			world := 2
			if c.before > 0 {
				world = 3
			}
			r, envs := listenLocal(t, world, 10*time.Second)
			serveErr := make(chan error, 1)
			go func() { serveErr <- r.Serve([]byte("id")) }()
			if c.before > 0 {
				if _, err := FetchID(envs[c.before]); err != nil {
					t.Fatal(err)
				}
			}
			e := envs[1]
			e.Rank, e.WorldSize = c.rank, c.size
			_, err := FetchID(e)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("rank's error %v, want %q", err, c.want)
			}
			if err := <-serveErr; err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("rank 0's error %v, want %q", err, c.want)
			}
		})
	}
}

func TestRendezvousIgnoresStrays(t *testing.T) {
	r, envs := listenLocal(t, 2, 10*time.Second)
	serveErr := make(chan error, 1)
	go func() { serveErr <- r.Serve([]byte("id")) }()
	// A connection that says something else, then the real rank.
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	c.Close()
	got, err := FetchID(envs[1])
	if err != nil || string(got) != "id" {
		t.Fatalf("%q, %v", got, err)
	}
	if err := <-serveErr; err != nil {
		t.Fatal(err)
	}
}

func TestRendezvousNotOurs(t *testing.T) {
	// Something else listens on MASTER_PORT and answers: a clear error, not a retry until the
	// timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	e := TorchrunEnv{Rank: 1, WorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: ln.Addr().(*net.TCPAddr).Port, Timeout: 10 * time.Second}
	_, err = FetchID(e)
	if err == nil || !strings.Contains(err.Error(), "another service listens") {
		t.Fatalf("error %v, want one saying another service answers", err)
	}
}

func TestLocalRankFromEnv(t *testing.T) {
	for _, c := range []struct {
		env     map[string]string
		rank    int
		from    string
		ok      bool
		wantErr string
	}{
		{env: nil},
		{env: map[string]string{"LOCAL_RANK": "3"}, rank: 3, from: "LOCAL_RANK", ok: true},
		{env: map[string]string{"OMPI_COMM_WORLD_LOCAL_RANK": "1", "SLURM_LOCALID": "2"}, rank: 1, from: "OMPI_COMM_WORLD_LOCAL_RANK", ok: true},
		{env: map[string]string{"SLURM_LOCALID": " 2 "}, rank: 2, from: "SLURM_LOCALID", ok: true},
		{env: map[string]string{"MPI_LOCALRANKID": "0"}, rank: 0, from: "MPI_LOCALRANKID", ok: true},
		{env: map[string]string{"LOCAL_RANK": "-1"}, from: "LOCAL_RANK", ok: true, wantErr: `LOCAL_RANK="-1" is not a local rank`},
		{env: map[string]string{"SLURM_LOCALID": "x"}, from: "SLURM_LOCALID", ok: true, wantErr: `SLURM_LOCALID="x" is not a local rank`},
	} {
		rank, from, ok, err := LocalRankFromEnv(func(k string) string { return c.env[k] })
		if rank != c.rank || from != c.from || ok != c.ok || (err == nil) != (c.wantErr == "") ||
			(err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%v: got (%d, %q, %v, %v), want (%d, %q, %v, error %q)", c.env, rank, from, ok, err, c.rank, c.from, c.ok, c.wantErr)
		}
	}
}
