"""Control plane: the gRPC ControlService, its JWT auth and the engine protocol it drives."""
