"""containerd.services.tasks.v1.Tasks over `TaskManager`: parse, call the core, map errors."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import namespaces
from pyd_containerd.tasks.manager import TaskManager
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2_grpc as pb_grpc
from pyd_proto.errdefs import abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Tasks"].full_name


class TasksService(pb_grpc.TasksServicer):
    def __init__(self, tasks: TaskManager) -> None:
        self.tasks = tasks

    @abort_on_error
    def Create(self, request: pb.CreateTaskRequest,
               context: grpc.ServicerContext) -> pb.CreateTaskResponse:
        return self.tasks.create(namespaces.from_context(context), request)

    @abort_on_error
    def Start(self, request: pb.StartRequest, context: grpc.ServicerContext) -> pb.StartResponse:
        return self.tasks.start(namespaces.from_context(context), request)

    @abort_on_error
    def Delete(self, request: pb.DeleteTaskRequest,
               context: grpc.ServicerContext) -> pb.DeleteResponse:
        return self.tasks.delete(namespaces.from_context(context), request)

    @abort_on_error
    def DeleteProcess(self, request: pb.DeleteProcessRequest,
                      context: grpc.ServicerContext) -> pb.DeleteResponse:
        return self.tasks.delete_process(namespaces.from_context(context), request)

    @abort_on_error
    def Get(self, request: pb.GetRequest, context: grpc.ServicerContext) -> pb.GetResponse:
        return self.tasks.get(namespaces.from_context(context), request)

    @abort_on_error
    def List(self, request: pb.ListTasksRequest,
             context: grpc.ServicerContext) -> pb.ListTasksResponse:
        return self.tasks.list(namespaces.from_context(context), request)

    @abort_on_error
    def Kill(self, request: pb.KillRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.tasks.kill(namespaces.from_context(context), request)
        return empty_pb2.Empty()

    @abort_on_error
    def Exec(self, request: pb.ExecProcessRequest,
             context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.tasks.exec(namespaces.from_context(context), request)
        return empty_pb2.Empty()

    @abort_on_error
    def ResizePty(self, request: pb.ResizePtyRequest,
                  context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.tasks.resize_pty(namespaces.from_context(context), request)
        return empty_pb2.Empty()

    @abort_on_error
    def CloseIO(self, request: pb.CloseIORequest,
                context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.tasks.close_io(namespaces.from_context(context), request)
        return empty_pb2.Empty()

    @abort_on_error
    def Pause(self, request: pb.PauseTaskRequest,
              context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.tasks.pause(namespaces.from_context(context), request)
        return empty_pb2.Empty()

    @abort_on_error
    def Resume(self, request: pb.ResumeTaskRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.tasks.resume(namespaces.from_context(context), request)
        return empty_pb2.Empty()

    @abort_on_error
    def ListPids(self, request: pb.ListPidsRequest,
                 context: grpc.ServicerContext) -> pb.ListPidsResponse:
        return self.tasks.list_pids(namespaces.from_context(context), request)

    @abort_on_error
    def Checkpoint(self, request: pb.CheckpointTaskRequest,
                   context: grpc.ServicerContext) -> pb.CheckpointTaskResponse:
        return self.tasks.checkpoint(namespaces.from_context(context), request)

    @abort_on_error
    def Update(self, request: pb.UpdateTaskRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.tasks.update(namespaces.from_context(context), request)
        return empty_pb2.Empty()

    @abort_on_error
    def Metrics(self, request: pb.MetricsRequest,
                context: grpc.ServicerContext) -> pb.MetricsResponse:
        return self.tasks.metrics(namespaces.from_context(context), request)

    @abort_on_error
    def Wait(self, request: pb.WaitRequest, context: grpc.ServicerContext) -> pb.WaitResponse:
        return self.tasks.wait(namespaces.from_context(context), request)
