// Command kms_client_go drives the ksec KMS plugin over its unix socket with
// grpc-go, the gRPC implementation kube-apiserver uses. It dials the socket the
// way the apiserver's KMS v2 client does (a context dialer to the unix path,
// authority "localhost", insecure transport, wait-for-ready, one connection) and
// encodes the few protobuf fields of the KMS API by hand with protowire, so no
// protoc code generation is needed.
//
// Modes (each but serve prints exactly one JSON line on stdout; a failure that is
// not an expected gRPC status exits 1 with a message on stderr):
//
//	roundtrip SOCKET                 Status, Encrypt/Decrypt, a tampered ciphertext,
//	                                 an unknown method, a short deadline, 64
//	                                 concurrent callers checking every answer, v1beta1.
//	status SOCKET                    one v2 Status call.
//	encrypt SOCKET PLAINTEXT_B64     one v2 Encrypt (uid "ksec-go").
//	decrypt SOCKET ENCRYPT_JSON      one v2 Decrypt of what `encrypt` printed
//	                                 (ciphertext, key_id, annotations).
//	bench SOCKET CALLERS TOTAL (encrypt|decrypt)
//	                                 CALLERS goroutines in a closed loop over one
//	                                 connection; p50/p99 latency (µs) and calls/s.
//	serve SOCKET                     a baseline for the benchmark, not a plugin to
//	                                 deploy: KMS v2 on grpc-go's server (as plugins
//	                                 built on k8s.io/kms are), AES-256-GCM under a
//	                                 random in-memory key; prints "serving" when ready.
//
// Built in GOPATH mode against Debian's golang-google-grpc-dev (grpc-go 1.33):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode CGO_ENABLED=0 go build -o kms-client-go .
//
// Files: main.go (modes), kms.go (dialing and the calls), wire.go (raw codec and
// protobuf fields), serve.go (the benchmark's grpc-go server baseline).
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "kms_client_go: "+format+"\n", a...)
	os.Exit(1)
}

func printJSON(v interface{}) {
	out, err := json.Marshal(v)
	if err != nil {
		fail("encoding the result: %v", err)
	}
	fmt.Println(string(out))
}

func roundtrip(c *client) {
	res := map[string]interface{}{}
	st, err := c.status()
	if err != nil {
		fail("v2 Status: %v", err)
	}
	res["status"] = st

	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		fail("random seed: %v", err)
	}
	enc, err := c.encrypt(seed, "ksec-go-roundtrip")
	if err != nil {
		fail("v2 Encrypt: %v", err)
	}
	res["encrypt"] = map[string]interface{}{
		"key_id":         enc.KeyID,
		"ciphertext_len": len(enc.Ciphertext),
		"annotations":    len(enc.Annotations),
	}
	pt, err := c.decrypt(enc, "ksec-go-roundtrip")
	if err != nil {
		fail("v2 Decrypt of what Encrypt returned: %v", err)
	}
	res["decrypt_matches"] = bytes.Equal(pt, seed)

	tampered := *enc
	tampered.Ciphertext = append([]byte(nil), enc.Ciphertext...)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	_, err = c.decrypt(&tampered, "ksec-go-tampered")
	res["tampered"] = outcomeOf(err)

	_, err = c.invoke(callTimeout, "/v2.KeyManagementService/Nope", nil)
	res["unknown_method"] = outcomeOf(err)

	// A short deadline travels as grpc-timeout; the plugin answers well within it.
	short, err := c.encryptWith(200*time.Millisecond, seed, "ksec-go-deadline")
	res["short_deadline"] = outcomeOf(err)
	if err == nil {
		res["short_deadline_key_id"] = short.KeyID
	}

	res["concurrent"] = concurrent(c, 64, 50)

	// KMS v1beta1 on the same connection.
	v1 := map[string]interface{}{}
	b, err := c.invoke(callTimeout, "/v1beta1.KeyManagementService/Version", appendString(nil, 1, "v1beta1"))
	if err != nil {
		fail("v1beta1 Version: %v", err)
	}
	f, err := fields(b)
	if err != nil {
		fail("v1beta1 VersionResponse: %v", err)
	}
	v1["version"] = string(last(f, 1))
	v1["runtime_name"] = string(last(f, 2))
	v1["runtime_version"] = string(last(f, 3))
	b, err = c.invoke(callTimeout, "/v1beta1.KeyManagementService/Encrypt",
		appendBytes(appendString(nil, 1, "v1beta1"), 2, seed))
	if err != nil {
		fail("v1beta1 Encrypt: %v", err)
	}
	if f, err = fields(b); err != nil {
		fail("v1beta1 EncryptResponse: %v", err)
	}
	cipher := last(f, 1)
	b, err = c.invoke(callTimeout, "/v1beta1.KeyManagementService/Decrypt",
		appendBytes(appendString(nil, 1, "v1beta1"), 2, cipher))
	if err != nil {
		fail("v1beta1 Decrypt: %v", err)
	}
	if f, err = fields(b); err != nil {
		fail("v1beta1 DecryptResponse: %v", err)
	}
	v1["roundtrip"] = bytes.Equal(last(f, 1), seed)
	res["v1beta1"] = v1
	printJSON(res)
}

// concurrent runs callers goroutines over the one connection, each wrapping and
// unwrapping its own random seeds; every answer must belong to its own call
// (HTTP/2 streams answered in any order, never mixed up).
func concurrent(c *client, callers, rounds int) map[string]int {
	var mu sync.Mutex
	counts := map[string]int{"calls": 0, "mismatches": 0, "errors": 0}
	var wg sync.WaitGroup
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			calls, mismatches, errs := 0, 0, 0
			for i := 0; i < rounds; i++ {
				seed := make([]byte, 32)
				if _, err := rand.Read(seed); err != nil {
					errs++
					continue
				}
				uid := fmt.Sprintf("ksec-go-%d-%d", g, i)
				enc, err := c.encrypt(seed, uid)
				calls++
				if err != nil {
					errs++
					continue
				}
				pt, err := c.decrypt(enc, uid)
				calls++
				if err != nil {
					errs++
				} else if !bytes.Equal(pt, seed) {
					mismatches++
				}
			}
			mu.Lock()
			counts["calls"] += calls
			counts["mismatches"] += mismatches
			counts["errors"] += errs
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	return counts
}

// bench runs callers goroutines, each sending its next call when the last one
// returns, over the one connection; latencies of all calls after a warm-up.
func bench(c *client, callers, total int, op string) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		fail("random seed: %v", err)
	}
	enc, err := c.encrypt(seed, "b")
	if err != nil {
		fail("v2 Encrypt (bench setup): %v", err)
	}
	var call func() error
	switch op {
	case "encrypt":
		req := encryptRequest(seed, "b")
		call = func() error {
			_, err := c.invoke(callTimeout, "/v2.KeyManagementService/Encrypt", req)
			return err
		}
	case "decrypt":
		req := decryptRequest(enc, "b")
		call = func() error {
			_, err := c.invoke(callTimeout, "/v2.KeyManagementService/Decrypt", req)
			return err
		}
	default:
		fail("bench: unknown operation %q (encrypt or decrypt)", op)
	}
	for i := 0; i < 20; i++ {
		if err := call(); err != nil {
			fail("bench %s (warm-up): %v", op, err)
		}
	}
	perCaller := total / callers
	if perCaller < 1 {
		perCaller = 1
	}
	lat := make([][]time.Duration, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			l := make([]time.Duration, 0, perCaller)
			for i := 0; i < perCaller; i++ {
				t := time.Now()
				if err := call(); err != nil {
					errs <- err
					return
				}
				l = append(l, time.Since(t))
			}
			lat[g] = l
		}(g)
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		fail("bench %s: %v", op, err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	p99 := len(all) * 99 / 100
	if p99 >= len(all) {
		p99 = len(all) - 1
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	printJSON(map[string]interface{}{
		"op":       op,
		"callers":  callers,
		"calls":    len(all),
		"p50_us":   us(all[len(all)/2]),
		"p99_us":   us(all[p99]),
		"per_sec":  float64(len(all)) / wall.Seconds(),
		"grpc_go":  grpc.Version,
		"timeout":  callTimeout.String(),
		"wall_sec": wall.Seconds(),
	})
}

func usage() {
	fail("usage: kms_client_go roundtrip SOCKET | status SOCKET | encrypt SOCKET PLAINTEXT_B64 | " +
		"decrypt SOCKET ENCRYPT_JSON | bench SOCKET CALLERS TOTAL (encrypt|decrypt) | serve SOCKET")
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	mode, socket, args := os.Args[1], os.Args[2], os.Args[3:]
	if mode == "serve" && len(args) == 0 {
		serve(socket)
		return
	}
	if v := os.Getenv("KSEC_GO_KMS_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fail("KSEC_GO_KMS_TIMEOUT=%q is not a duration such as 3s or 0", v)
		}
		callTimeout = d
	}
	c, err := dial(socket)
	if err != nil {
		fail("%v", err)
	}
	defer c.conn.Close()
	switch {
	case mode == "roundtrip" && len(args) == 0:
		roundtrip(c)
	case mode == "status" && len(args) == 0:
		st, err := c.status()
		if err != nil {
			fail("v2 Status: %v", err)
		}
		printJSON(st)
	case mode == "encrypt" && len(args) == 1:
		pt, err := base64.StdEncoding.DecodeString(args[0])
		if err != nil {
			fail("encrypt: PLAINTEXT_B64 is not base64: %v", err)
		}
		enc, err := c.encrypt(pt, "ksec-go")
		if err != nil {
			fail("v2 Encrypt: %v", err)
		}
		printJSON(enc)
	case mode == "decrypt" && len(args) == 1:
		var e encrypted
		if err := json.Unmarshal([]byte(args[0]), &e); err != nil {
			fail("decrypt: ENCRYPT_JSON is not what `encrypt` prints: %v", err)
		}
		pt, err := c.decrypt(&e, "ksec-go")
		if err != nil {
			// An expected refusal is a result, not a crash of the client.
			printJSON(map[string]interface{}{"error": outcomeOf(err)})
			return
		}
		printJSON(map[string]interface{}{"plaintext": pt})
	case mode == "bench" && len(args) == 3:
		callers, err1 := strconv.Atoi(args[0])
		total, err2 := strconv.Atoi(args[1])
		if err1 != nil || err2 != nil || callers < 1 || total < 1 {
			fail("bench: CALLERS and TOTAL must be positive integers")
		}
		bench(c, callers, total, args[2])
	default:
		usage()
	}
}
