// The KMS v2 client calls, over one connection dialed as kube-apiserver dials.

package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// callTimeout is kube-apiserver's default KMS call timeout; every call carries it
// as grpc-timeout, as the apiserver's calls do. KSEC_GO_KMS_TIMEOUT (a Go
// duration; 0 for none) changes it, to tell the deadline's cost apart in a benchmark.
var callTimeout = 3 * time.Second

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
