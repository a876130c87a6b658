"""KFP v1 sample "VolumeOp Basic": a VolumeOp creates a PVC, a ContainerOp writes a file into it."""

from kfp import dsl


@dsl.pipeline(name="VolumeOp Basic", description="A Basic Example on VolumeOp Usage.")
def volumeop_basic(size: str = "1Gi"):
    vop = dsl.VolumeOp(
        name="create-pvc",
        resource_name="my-pvc",
        modes=dsl.VOLUME_MODE_RWO,
        size=size,
    )

    cop = dsl.ContainerOp(
        name="cop",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=["echo foo > /mnt/file1"],
        pvolumes={"/mnt": vop.volume},
    )

    dsl.ContainerOp(
        name="read",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=["cat /mnt/file1 | tee /tmp/read.txt"],
        pvolumes={"/mnt": cop.pvolume},
        file_outputs={"read": "/tmp/read.txt"},
    )
