"""Headless moderngl (EGL) renderer of :class:`~hpe_ros.synth.mesh.MeshPart` lists as pinhole face crops.

The camera is OpenCV's (x right, y down, z forward); ``K`` is the 3×3 intrinsic matrix *of the crop* with
pixel centres at integer coordinates, so a head-frame point X lands at pixel ``K @ (R @ X + t)``
(dehomogenised).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.synth.assets import decode_texture
from hpe_ros.synth.mesh import MeshPart

MAX_LIGHTS = 3
SHADOW_MAP_SIZE = 512
SHADOW_RADIUS_M = 0.45  # the key light's shadow map covers a sphere this large around the head

VERTEX_SHADER = """
#version 330
uniform mat4 projection;
uniform mat3 rotation;
uniform vec3 translation;
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
out vec3 v_position;
out vec3 v_normal;
out vec2 v_uv;
out vec3 v_head;
void main() {
    v_head = in_position;
    v_position = rotation * in_position + translation;
    v_normal = rotation * in_normal;
    v_uv = in_uv;
    gl_Position = projection * vec4(v_position, 1.0);
}
"""

SHADE_SHADER = """
#version 330
uniform sampler2D diffuse;
uniform vec3 tint;
uniform float specular;
uniform vec3 ambient;
uniform vec3 light_dir[3];
uniform vec3 light_colour[3];
uniform int alpha_mode;  // 0 opaque (alpha >= alpha_cut), 1 blended fringe (alpha < alpha_cut only)
uniform float alpha_cut;
uniform float fringe_alpha;  // scales the blended texels' alpha (clear lenses)
uniform sampler2D shadow_map;  // depth seen from the key light (light 0), orthographic
uniform mat4 light_matrix;
uniform int use_shadow;
in vec3 v_position;
in vec3 v_normal;
in vec2 v_uv;
in vec3 v_head;
out vec4 colour;
float key_light_visibility() {
    if (use_shadow == 0) return 1.0;
    vec3 q = (light_matrix * vec4(v_position, 1.0)).xyz * 0.5 + 0.5;
    if (any(lessThan(q.xy, vec2(0.0))) || any(greaterThan(q.xy, vec2(1.0)))) return 1.0;
    vec2 step_uv = 1.0 / vec2(textureSize(shadow_map, 0));
    float lit = 0.0;
    for (int x = -1; x <= 1; ++x)
        for (int y = -1; y <= 1; ++y)
            lit += step(q.z - 0.004, texture(shadow_map, q.xy + vec2(x, y) * step_uv).r);
    return lit / 9.0;
}
void main() {
    vec4 texel = texture(diffuse, vec2(v_uv.x, 1.0 - v_uv.y));
    if (alpha_mode == 0 && texel.a < alpha_cut) discard;
    if (alpha_mode == 1 && (texel.a >= alpha_cut || texel.a < 0.02)) discard;
    vec3 view = normalize(-v_position);
    vec3 n = normalize(v_normal);
    if (dot(n, view) < 0.0) n = -n;
    vec3 albedo = pow(texel.rgb * tint, vec3(2.2));
    vec3 light = ambient;
    vec3 shine = vec3(0.0);
    float key = key_light_visibility();
    for (int i = 0; i < 3; ++i) {
        vec3 l = -light_dir[i];
        vec3 c = light_colour[i] * (i == 0 ? key : 1.0);
        float wrap = max((dot(n, l) + 0.25) / 1.25, 0.0);  // soft wrap lighting, cheap skin scattering
        light += c * wrap;
        vec3 h = normalize(l + view);
        shine += c * specular * pow(max(dot(n, h), 0.0), 24.0) * step(0.0, dot(n, l));
    }
    float alpha = alpha_mode == 0 ? 1.0 : texel.a * fringe_alpha;
    colour = vec4(pow(albedo * light + shine, vec3(1.0 / 2.2)), alpha);
}
"""

POSITION_SHADER = """
#version 330
uniform sampler2D diffuse;
uniform float alpha_cut;
in vec3 v_position;
in vec3 v_normal;
in vec2 v_uv;
in vec3 v_head;
out vec4 colour;
void main() {
    if (texture(diffuse, vec2(v_uv.x, 1.0 - v_uv.y)).a < alpha_cut) discard;
    colour = vec4(v_head, 1.0);
}
"""


@dataclass
class Lighting:
    """Ambient colour and up to three directional lights (camera-frame directions of travel of the light)."""

    ambient: tuple[float, float, float] = (0.35, 0.35, 0.35)
    directions: tuple[tuple[float, float, float], ...] = ((0.3, 0.4, 1.0),)
    colours: tuple[tuple[float, float, float], ...] = ((0.8, 0.8, 0.8),)
    shadows: bool = True  # the first (key) light casts shadows


def light_view_matrix(direction: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Orthographic clip matrix looking along the light's travel ``direction`` at a sphere (camera frame)."""
    z = np.asarray(direction, float) / np.linalg.norm(direction)
    up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    axes = np.stack([x, np.cross(z, x), z])
    matrix = np.eye(4)
    matrix[:3, :3] = axes / radius
    matrix[:3, 3] = -axes @ centre / radius
    return matrix.astype(np.float32)


def projection_from_intrinsics(K: np.ndarray, width: int, height: int, near: float, far: float) -> np.ndarray:
    """OpenGL clip matrix reproducing OpenCV's pinhole K (pixel centres at integers) for width×height."""
    fx, s, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2] + 0.5, K[1, 1], K[1, 2] + 0.5
    return np.array(
        [
            [2 * fx / width, 2 * s / width, 2 * cx / width - 1, 0],
            [0, -2 * fy / height, 1 - 2 * cy / height, 0],
            [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)],
            [0, 0, 1, 0],
        ],
        np.float32,
    )


def egl_available() -> tuple[bool, str]:
    """Whether a headless EGL OpenGL 3.3 context can be created here, with the reason when not."""
    try:
        import moderngl

        ctx = moderngl.create_standalone_context(backend="egl")
        ctx.release()
        return True, ""
    except Exception as error:
        return False, f"no headless EGL OpenGL context ({error}); install libegl1 and libgl1-mesa-dri"


class Renderer:
    """One EGL context with its shaders, texture cache and framebuffers for one crop size."""

    def __init__(self, cache: dict[str, np.ndarray], size: int = 224, supersample: int = 1):
        import moderngl

        if not 16 <= size <= 4096 or not 1 <= supersample <= 4:
            raise InputError(f"need size 16..4096 px and supersample 1..4, got {size}, {supersample}")
        self.cache, self.size = cache, size
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as error:
            raise InputError(f"cannot create a headless EGL context: {error}") from error
        self.shade = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=SHADE_SHADER)
        self.position = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=POSITION_SHADER)
        self.textures: dict[str, object] = {}
        # Anti-aliasing by supersampling: MSAA resolves are slow on Mesa llvmpipe (~0.1 s per 224 px frame).
        self.supersample = int(supersample)
        big = size * self.supersample
        self.colour_fbo = self.ctx.framebuffer(
            self.ctx.renderbuffer((big, big), 4), self.ctx.depth_renderbuffer((big, big))
        )
        self.shadow_depth = self.ctx.depth_texture((SHADOW_MAP_SIZE, SHADOW_MAP_SIZE))
        self.shadow_depth.compare_func = ""  # read raw depth in the shader
        self.shadow_depth.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.shadow_fbo = self.ctx.framebuffer(depth_attachment=self.shadow_depth)
        self.float_fbo = self.ctx.framebuffer(
            self.ctx.renderbuffer((size, size), 4, dtype="f4"), self.ctx.depth_renderbuffer((size, size))
        )

    def _texture(self, key: str):
        if key not in self.textures:
            image = np.ascontiguousarray(decode_texture(self.cache[key]))
            texture = self.ctx.texture(image.shape[1::-1], 4, image.tobytes())
            texture.build_mipmaps()
            texture.anisotropy = 4.0
            self.textures[key] = texture
        return self.textures[key]

    def _vaos(self, program, parts: list[MeshPart]):
        for part in parts:
            data = np.hstack([part.positions, part.normals, part.uv]).astype("f4")
            vbo = self.ctx.buffer(data.tobytes())
            ibo = self.ctx.buffer(part.triangles.astype("i4").tobytes())
            attrs = [a for a in ("in_position", "in_normal", "in_uv") if a in program]
            vao = self.ctx.vertex_array(program, [(vbo, _format(program), *attrs)], index_buffer=ibo)
            yield part, vao, (vbo, ibo)

    def _set_camera(self, program, K: np.ndarray, R: np.ndarray, t: np.ndarray, scale: int = 1) -> None:
        depth = float(np.linalg.norm(t))
        near, far = max(depth - 1.0, 0.02), depth + 1.0
        K_big = np.diag([scale, scale, 1.0]) @ K
        K_big[:2, 2] += (scale - 1) / 2  # same image, pixel centres of the finer grid
        size = self.size * scale
        program["projection"].write(projection_from_intrinsics(K_big, size, size, near, far).T.tobytes())
        program["rotation"].write(np.asarray(R, "f4").T.tobytes())
        program["translation"].value = tuple(float(v) for v in t)

    def render(self, parts: list[MeshPart], K: np.ndarray, R: np.ndarray, t: np.ndarray, light: Lighting):
        """RGBA uint8 (top row first) of the parts posed by head→camera R, t; alpha: coverage."""
        ctx, prog = self.ctx, self.shade
        self._set_camera(prog, K, R, t, self.supersample)
        prog["ambient"].value = light.ambient
        dirs = [tuple(np.asarray(d, float) / np.linalg.norm(d)) for d in light.directions][:MAX_LIGHTS]
        cols = list(light.colours)[:MAX_LIGHTS]
        dirs += [(0.0, 0.0, 1.0)] * (MAX_LIGHTS - len(dirs))
        cols += [(0.0, 0.0, 0.0)] * (MAX_LIGHTS - len(cols))
        prog["light_dir"].write(np.asarray(dirs, "f4").tobytes())
        prog["light_colour"].write(np.asarray(cols, "f4").tobytes())
        prog["use_shadow"].value = int(light.shadows)
        if light.shadows:
            centre = np.asarray(R) @ parts[0].positions.mean(axis=0) + np.asarray(t)
            matrix = light_view_matrix(np.asarray(dirs[0]), centre, SHADOW_RADIUS_M)
            self._shadow_pass(parts, R, t, matrix)
            prog["light_matrix"].write(matrix.T.tobytes())
            prog["shadow_map"].value = 1
            self.shadow_depth.use(1)
        self.colour_fbo.use()
        ctx.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.enable(ctx.DEPTH_TEST)
        ctx.disable(ctx.CULL_FACE)
        drawn = list(self._vaos(prog, parts))
        try:
            for alpha_mode in (0, 1):
                for part, vao, _ in drawn:
                    if alpha_mode == 1 and not part.blended:
                        continue
                    prog["alpha_mode"].value = alpha_mode
                    prog["alpha_cut"].value = part.alpha_cut
                    prog["fringe_alpha"].value = part.fringe_alpha
                    prog["tint"].value = part.tint
                    prog["specular"].value = part.specular
                    self._texture(part.texture).use(0)
                    if alpha_mode == 1:
                        ctx.enable(ctx.BLEND)
                        ctx.blend_func = (
                            ctx.SRC_ALPHA,
                            ctx.ONE_MINUS_SRC_ALPHA,
                            ctx.ONE,
                            ctx.ONE_MINUS_SRC_ALPHA,
                        )
                        ctx.depth_mask = False
                    vao.render()
                    ctx.disable(ctx.BLEND)
                    ctx.depth_mask = True
            raw = self.colour_fbo.read(components=4, alignment=1)
        finally:
            _release(drawn)
        big = self.size * self.supersample
        image = np.frombuffer(raw, np.uint8).reshape(big, big, 4)[::-1]
        if self.supersample > 1:
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(image)

    def _shadow_pass(self, parts: list[MeshPart], R: np.ndarray, t: np.ndarray, matrix: np.ndarray) -> None:
        """Depth of the opaque-enough surfaces seen from the key light into :attr:`shadow_depth`."""
        ctx, prog = self.ctx, self.position
        prog["projection"].write(matrix.T.tobytes())
        prog["rotation"].write(np.asarray(R, "f4").T.tobytes())
        prog["translation"].value = tuple(float(v) for v in t)
        self.shadow_fbo.use()
        ctx.clear(depth=1.0)
        self._draw_opaque(prog, parts)

    def _draw_opaque(self, prog, parts: list[MeshPart]) -> None:
        """Draw ``parts`` with ``prog``, depth-tested and unblended (the shadow and position passes)."""
        ctx = self.ctx
        ctx.enable(ctx.DEPTH_TEST)
        ctx.disable(ctx.BLEND)
        drawn = list(self._vaos(prog, parts))
        try:
            for part, vao, _ in drawn:
                prog["alpha_cut"].value = part.alpha_cut
                self._texture(part.texture).use(0)
                vao.render()
        finally:
            _release(drawn)

    def render_positions(
        self, parts: list[MeshPart], K: np.ndarray, R: np.ndarray, t: np.ndarray
    ) -> np.ndarray:
        """Per pixel the head-frame point seen there (x, y, z, coverage), float32, top row first; no MSAA."""
        ctx, prog = self.ctx, self.position
        self._set_camera(prog, K, R, t)
        self.float_fbo.use()
        ctx.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self._draw_opaque(prog, parts)
        raw = self.float_fbo.read(components=4, dtype="f4", alignment=1)
        return np.frombuffer(raw, np.float32).reshape(self.size, self.size, 4)[::-1].copy()

    def release(self) -> None:
        """Free the GL context and everything in it."""
        for texture in self.textures.values():
            texture.release()
        self.ctx.release()


def _format(program) -> str:
    return " ".join(
        ("3f" if name != "in_uv" else "2f") if name in program else ("3x4" if name != "in_uv" else "2x4")
        for name in ("in_position", "in_normal", "in_uv")
    )


def _release(drawn) -> None:
    for _, vao, buffers in drawn:
        vao.release()
        for buffer in buffers:
            buffer.release()
