"""The loader: `om load-job` as AWS Batch jobs on Fargate, one per uploaded CSV.

The job definition's command is `services.loader.events.load_job_command` with Batch parameter
references (`Ref::bucket`, `Ref::key`) for the values the pipeline's rule passes in. The image's
ENTRYPOINT is `om load-job` (Dockerfile.loader) and Batch appends the command, so the command is
what follows those two words; a test checks that entrypoint + command is exactly the function's
command line. The upload is downloaded to ephemeral storage mounted over /tmp (the root filesystem
is read-only), sized, like the timeout, for multi-GB files.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.config import LoaderConfig
from infra.container_env import RUN_AS_USER, SCRATCH_DIR
from infra.log_retention import retention
from services.loader.events import load_job_command

BUCKET_PARAMETER = "bucket"
KEY_PARAMETER = "key"
# Dockerfile.loader's ENTRYPOINT: the start of every loader command line.
LOADER_ENTRYPOINT = ("om", "load-job")
# `om load-job` exit statuses: 1 = the store failed, a retry may succeed; 2 = bad usage or
# settings, which no retry fixes. Anything else that fails an attempt (the container could not
# start, the task was stopped) is retried too.
EXIT_RETRY = "1"
EXIT_USAGE = "2"


def job_command() -> list[str]:
    """The container command: the loader's command line minus the image's entrypoint."""
    full = load_job_command(f"Ref::{BUCKET_PARAMETER}", f"Ref::{KEY_PARAMETER}")
    if tuple(full[: len(LOADER_ENTRYPOINT)]) != LOADER_ENTRYPOINT:
        raise ValueError(f"{full} does not start with the image's entrypoint {LOADER_ENTRYPOINT}")
    return full[len(LOADER_ENTRYPOINT) :]


class LoadJobs(Construct):
    """Fargate compute environment, job queue and job definition of the loader."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        image: ecs.ContainerImage,
        environment: Mapping[str, str],
        size: LoaderConfig,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="om load-job tasks: no inbound traffic",
            # Isolated subnets: the only destinations are the VPC endpoints.
            allow_all_outbound=True,
        )
        self.compute_environment = batch.FargateComputeEnvironment(
            self,
            "Compute",
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            maxv_cpus=size.max_vcpus,
            spot=False,
        )
        self.queue = batch.JobQueue(
            self,
            "Queue",
            priority=1,
            compute_environments=[
                batch.OrderedComputeEnvironment(
                    compute_environment=self.compute_environment, order=1
                )
            ],
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="om load-job: load records, batch writes, the upload and its report",
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention(log_retention_days), removal_policy=removal
        )
        self.container = batch.EcsFargateContainerDefinition(
            self,
            "Container",
            image=image,
            cpu=size.cpu / 1024,
            memory=Size.mebibytes(size.memory_mib),
            ephemeral_storage_size=Size.gibibytes(size.ephemeral_storage_gib),
            fargate_cpu_architecture=ecs.CpuArchitecture.X86_64,
            fargate_operating_system_family=ecs.OperatingSystemFamily.LINUX,
            command=job_command(),
            environment=dict(environment),
            job_role=self.job_role,
            readonly_root_filesystem=True,
            user=RUN_AS_USER,
            assign_public_ip=False,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="loader", log_group=self.log_group),
            volumes=[batch.EcsVolume.host(name="scratch", container_path=SCRATCH_DIR)],
        )
        self.job_definition = batch.EcsJobDefinition(
            self,
            "Job",
            container=self.container,
            timeout=Duration.minutes(size.timeout_minutes),
            retry_attempts=size.attempts,
            retry_strategies=[
                batch.RetryStrategy.of(
                    batch.Action.EXIT, batch.Reason.custom(on_exit_code=EXIT_USAGE)
                ),
                batch.RetryStrategy.of(
                    batch.Action.RETRY, batch.Reason.custom(on_exit_code=EXIT_RETRY)
                ),
            ],
            propagate_tags=True,
        )
        # Every image change is a new job definition revision, hence a new ARN. Handed to another
        # stack as an Export, it could never change while imported ("export in use"); read as the
        # producing stack's output instead, the consumer simply follows on its next update.
        CrossStackReferences.of(self.job_definition).produce(ReferenceStrength.WEAK)
        # CDK renders the scratch volume with `Host: {}`; Batch on Fargate takes no host
        # settings, and a volume with a name alone is a bind mount on the task's ephemeral storage.
        job_resource = self.job_definition.node.default_child
        assert isinstance(job_resource, batch.CfnJobDefinition)
        job_resource.add_property_deletion_override("ContainerProperties.Volumes.0.Host")
        nag.acknowledge(
            self.job_definition,
            "ECS2",
            "The OM_* variables are non-secret configuration (table, bucket, timeouts); the "
            "job has no secrets: AWS access comes from the job role.",
        )
