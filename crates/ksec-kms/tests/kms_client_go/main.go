// Command kms_client_go drives the ksec KMS plugin over its unix socket with
// grpc-go, the gRPC implementation kube-apiserver uses. It dials the socket the
// way the apiserver's KMS v2 client does (a context dialer to the unix path,
// authority "localhost", insecure transport, wait-for-ready, one connection) and
// encodes the few protobuf fields of the KMS API by hand with protowire, so no
// protoc code generation is needed.
//
// Modes (every one prints exactly one JSON line on stdout; a failure that is not
// an expected gRPC status exits 1 with a message on stderr):
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
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o kms-client-go .
package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// callTimeout is kube-apiserver's default KMS call timeout; every call carries it
// as grpc-timeout, as the apiserver's calls do. KSEC_GO_KMS_TIMEOUT (a Go
// duration; 0 for none) changes it, to tell the deadline's cost apart in a benchmark.
var callTimeout = 3 * time.Second

// raw is a pre-encoded protobuf message.
type raw struct{ b []byte }

// rawCodec passes pre-encoded messages through. Forced per call, it keeps the
// content-type "application/grpc" that the apiserver's proto codec sends.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	r, ok := v.(*raw)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return r.b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	r, ok := v.(*raw)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	r.b = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// --- protobuf encoding of the KMS messages (proto3: default values omitted) ---

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	return appendBytes(b, num, []byte(v))
}

// appendMap encodes a map<string, bytes> field: one entry message per key
// (key = 1, value = 2), keys sorted for a stable encoding.
func appendMap(b []byte, num protowire.Number, m map[string][]byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var e []byte
		e = appendString(e, 1, k)
		e = appendBytes(e, 2, m[k])
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	return b
}

// fields decodes a message into its length-delimited fields (the only kind the
// KMS messages have); other wire types are skipped. A repeated field keeps
// every occurrence; for a scalar proto3 field the last one wins.
func fields(msg []byte) (map[protowire.Number][][]byte, error) {
	out := map[protowire.Number][][]byte{}
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, fmt.Errorf("malformed protobuf tag: %v", protowire.ParseError(n))
		}
		msg = msg[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return nil, fmt.Errorf("malformed field %d: %v", num, protowire.ParseError(m))
			}
			out[num] = append(out[num], v)
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return nil, fmt.Errorf("malformed field %d: %v", num, protowire.ParseError(m))
		}
		msg = msg[m:]
	}
	return out, nil
}

func last(f map[protowire.Number][][]byte, num protowire.Number) []byte {
	v := f[num]
	if len(v) == 0 {
		return nil
	}
	return v[len(v)-1]
}

func decodeMap(entries [][]byte) (map[string][]byte, error) {
	m := map[string][]byte{}
	for _, e := range entries {
		f, err := fields(e)
		if err != nil {
			return nil, fmt.Errorf("map entry: %v", err)
		}
		m[string(last(f, 1))] = last(f, 2)
	}
	return m, nil
}

// --- the KMS v2 and v1beta1 calls ---

type client struct{ conn *grpc.ClientConn }

// dial connects as kube-apiserver's KMS v2 client does
// (staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/grpc_service.go).
// grpc-go 1.33 has no credentials/insecure package; WithInsecure is its spelling.
func dial(socket string) (*client, error) {
	conn, err := grpc.Dial(
		socket,
		grpc.WithAuthority("localhost"),
		grpc.WithInsecure(),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %v", socket, err)
	}
	return &client{conn}, nil
}

func (c *client) invoke(timeout time.Duration, method string, req []byte) ([]byte, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var resp raw
	err := c.conn.Invoke(ctx, method, &raw{req}, &resp, grpc.ForceCodec(rawCodec{}))
	return resp.b, err
}

type statusResp struct {
	Version string `json:"version"`
	Healthz string `json:"healthz"`
	KeyID   string `json:"key_id"`
}

func (c *client) status() (*statusResp, error) {
	b, err := c.invoke(callTimeout, "/v2.KeyManagementService/Status", nil)
	if err != nil {
		return nil, err
	}
	f, err := fields(b)
	if err != nil {
		return nil, fmt.Errorf("StatusResponse: %v", err)
	}
	return &statusResp{string(last(f, 1)), string(last(f, 2)), string(last(f, 3))}, nil
}

// encrypted is an EncryptResponse, and what Decrypt needs back.
type encrypted struct {
	Ciphertext  []byte            `json:"ciphertext"`
	KeyID       string            `json:"key_id"`
	Annotations map[string][]byte `json:"annotations"`
}

func encryptRequest(plaintext []byte, uid string) []byte {
	return appendString(appendBytes(nil, 1, plaintext), 2, uid)
}

func decryptRequest(e *encrypted, uid string) []byte {
	b := appendBytes(nil, 1, e.Ciphertext)
	b = appendString(b, 2, uid)
	b = appendString(b, 3, e.KeyID)
	return appendMap(b, 4, e.Annotations)
}

func (c *client) encryptWith(timeout time.Duration, plaintext []byte, uid string) (*encrypted, error) {
	b, err := c.invoke(timeout, "/v2.KeyManagementService/Encrypt", encryptRequest(plaintext, uid))
	if err != nil {
		return nil, err
	}
	f, err := fields(b)
	if err != nil {
		return nil, fmt.Errorf("EncryptResponse: %v", err)
	}
	ann, err := decodeMap(f[3])
	if err != nil {
		return nil, fmt.Errorf("EncryptResponse annotations: %v", err)
	}
	return &encrypted{last(f, 1), string(last(f, 2)), ann}, nil
}

func (c *client) encrypt(plaintext []byte, uid string) (*encrypted, error) {
	return c.encryptWith(callTimeout, plaintext, uid)
}

func (c *client) decrypt(e *encrypted, uid string) ([]byte, error) {
	b, err := c.invoke(callTimeout, "/v2.KeyManagementService/Decrypt", decryptRequest(e, uid))
	if err != nil {
		return nil, err
	}
	f, err := fields(b)
	if err != nil {
		return nil, fmt.Errorf("DecryptResponse: %v", err)
	}
	return last(f, 1), nil
}

// outcome is how a call that may fail ended: its gRPC code name and message.
type outcome struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func outcomeOf(err error) outcome {
	s, _ := status.FromError(err)
	return outcome{s.Code().String(), s.Message()}
}

// --- modes ---

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

// serve runs the baseline plugin until killed: grpc-go's server with default
// options, the three v2 methods registered by hand, messages through rawCodec
// (registered under "proto", so it replaces the proto codec in this process).
func serve(socket string) {
	encoding.RegisterCodec(rawCodec{})
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		fail("random key: %v", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		fail("AES key: %v", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		fail("AES-GCM: %v", err)
	}
	const keyID = "grpc-go-baseline:1"
	unary := func(f func(req map[protowire.Number][][]byte) ([]byte, error)) grpc.MethodDesc {
		return grpc.MethodDesc{Handler: func(_ interface{}, _ context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
			var in raw
			if err := dec(&in); err != nil {
				return nil, err
			}
			req, err := fields(in.b)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			out, err := f(req)
			if err != nil {
				return nil, err
			}
			return &raw{out}, nil
		}}
	}
	status_ := unary(func(map[protowire.Number][][]byte) ([]byte, error) {
		return appendString(appendString(appendString(nil, 1, "v2"), 2, "ok"), 3, keyID), nil
	})
	status_.MethodName = "Status"
	encrypt := unary(func(req map[protowire.Number][][]byte) ([]byte, error) {
		pt := last(req, 1)
		if len(pt) == 0 {
			return nil, status.Error(codes.InvalidArgument, "empty plaintext")
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return appendString(appendBytes(nil, 1, aead.Seal(nonce, nonce, pt, nil)), 2, keyID), nil
	})
	encrypt.MethodName = "Encrypt"
	decrypt := unary(func(req map[protowire.Number][][]byte) ([]byte, error) {
		if string(last(req, 3)) != keyID {
			return nil, status.Error(codes.InvalidArgument, "unknown key_id")
		}
		ct := last(req, 1)
		if len(ct) < aead.NonceSize() {
			return nil, status.Error(codes.InvalidArgument, "ciphertext too short")
		}
		n := aead.NonceSize()
		pt, err := aead.Open(nil, ct[:n], ct[n:], nil)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "ciphertext does not authenticate")
		}
		return appendBytes(nil, 1, pt), nil
	})
	decrypt.MethodName = "Decrypt"
	lis, err := net.Listen("unix", socket)
	if err != nil {
		fail("listen on %s: %v", socket, err)
	}
	s := grpc.NewServer()
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "v2.KeyManagementService",
		HandlerType: (*interface{})(nil),
		Methods:     []grpc.MethodDesc{status_, encrypt, decrypt},
	}, struct{}{})
	fmt.Println("serving")
	if err := s.Serve(lis); err != nil {
		fail("serve: %v", err)
	}
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
