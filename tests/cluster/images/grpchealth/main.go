// Command grpchealth serves the standard grpc.health.v1.Health service on PORT (default 9446),
// reporting SERVING for the empty service name and for "evaluator.FunctionEvaluator", and
// exits cleanly on SIGTERM. It is what a kubelet native gRPC readiness probe talks to.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "9446"
	}
	lis, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpchealth:", err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("evaluator.FunctionEvaluator", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		hs.Shutdown()
		srv.GracefulStop()
	}()
	fmt.Fprintf(os.Stderr, "grpchealth: serving grpc.health.v1 on :%s\n", port)
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "grpchealth:", err)
		os.Exit(1)
	}
}
