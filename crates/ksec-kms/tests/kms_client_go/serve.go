// The benchmark's baseline: KMS v2 on grpc-go's server.

package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

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
