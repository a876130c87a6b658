"""VolumeOp as KFP's samples use it: a volume sized by a pipeline parameter, mounted by a step and, through the
step's pvolume, by the next one; and a volume keeping its claim's name from run to run."""

from kfp import dsl

ARGUMENTS = {}


@dsl.pipeline(name="pipeline-volumes")
def pipeline_volumes_pipeline(size: str = "1Gi"):
    vop = dsl.VolumeOp(
        name="create-volume",
        resource_name="mypvc",
        size=size,
        storage_class="standard",
        modes=dsl.VOLUME_MODE_RWM,
        annotations={"example.com/purpose": "scratch"},
    )
    write = dsl.ContainerOp(
        name="write",
        image="alpine",
        command=["sh", "-c"],
        arguments=["echo 1 > /data/file"],
        pvolumes={"/data": vop.volume},
    )
    dsl.ContainerOp(
        name="read",
        image="alpine",
        command=["sh", "-c"],
        arguments=["cat /data/file; echo %s %s" % (vop.outputs["name"], vop.outputs["size"])],
        pvolumes={"/data": write.pvolume},
    )
    cache = dsl.VolumeOp(name="cache", resource_name="shared-cache", size="5Gi", generate_unique_name=False)
    dsl.ContainerOp(name="use-cache", image="alpine", command=["ls", "/cache"], pvolumes={"/cache": cache.volume})
