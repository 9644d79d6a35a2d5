"""Small PyTorch re-implementations of the three Stable Diffusion networks.

Module and parameter names mirror HF transformers' CLIPTextModel and diffusers' UNet2DConditionModel / AutoencoderKL
exactly, so ``state_dict()`` keys (with the ``text_model.`` prefix for the text encoder) are the keys of a diffusers
folder. Only the configuration subset the demo model uses is implemented (SD 1.x blocks, non-linear projection,
default time embedding); the Java engine in this repository is the reference these are checked against.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------------------------------
# CLIP text encoder (transformers CLIPTextModel, pre-LN, causal mask, quick_gelu)

class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, mask):
        b, t, d = x.shape
        h = self.heads
        q = self.q_proj(x).view(b, t, h, d // h).transpose(1, 2)
        k = self.k_proj(x).view(b, t, h, d // h).transpose(1, 2)
        v = self.v_proj(x).view(b, t, h, d // h).transpose(1, 2)
        w = (q @ k.transpose(-1, -2)) / math.sqrt(d // h) + mask
        a = w.softmax(-1) @ v
        return self.out_proj(a.transpose(1, 2).reshape(b, t, d))


class CLIPMLP(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.fc1 = nn.Linear(d, f)
        self.fc2 = nn.Linear(f, d)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))   # quick_gelu


class CLIPEncoderLayer(nn.Module):
    def __init__(self, d, f, heads):
        super().__init__()
        self.self_attn = CLIPAttention(d, heads)
        self.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = CLIPMLP(d, f)
        self.layer_norm2 = nn.LayerNorm(d, eps=1e-5)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, vocab, d, positions):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(positions, d)


class CLIPEncoder(nn.Module):
    def __init__(self, d, f, heads, layers):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(d, f, heads) for _ in range(layers)])


class CLIPTextTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.embeddings = CLIPEmbeddings(cfg["vocab_size"], d, cfg["max_position_embeddings"])
        self.encoder = CLIPEncoder(d, cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"])
        self.final_layer_norm = nn.LayerNorm(d, eps=1e-5)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding.weight[:t]
        mask = torch.full((t, t), float("-inf")).triu(1)
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


class CLIPTextModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.text_model = CLIPTextTransformer(cfg)

    def forward(self, ids):
        return self.text_model(ids)


# ---------------------------------------------------------------------------------------------------------------------
# Shared diffusers blocks

class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, groups, eps, temb=None):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb is not None:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "conv_shortcut"):
            x = self.conv_shortcut(x)
        return x + h


class Downsample2D(nn.Module):
    def __init__(self, c, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:   # the VAE pads right/bottom only
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def attention(q, k, v, heads):
    b, n, c = q.shape
    m = k.shape[1]
    dh = c // heads
    q = q.view(b, n, heads, dh).transpose(1, 2)
    k = k.view(b, m, heads, dh).transpose(1, 2)
    v = v.view(b, m, heads, dh).transpose(1, 2)
    w = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(dh))
    return (w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)


# ---------------------------------------------------------------------------------------------------------------------
# AutoencoderKL

class VaeAttention(nn.Module):
    """diffusers Attention as built by UNetMidBlock2D for the VAE: one head, GroupNorm, biased projections."""

    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.to_q = nn.Linear(c, c)
        self.to_k = nn.Linear(c, c)
        self.to_v = nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c)])

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.group_norm(x).view(b, c, h * w).transpose(1, 2)
        y = attention(self.to_q(y), self.to_k(y), self.to_v(y), 1)
        y = self.to_out[0](y).transpose(1, 2).reshape(b, c, h, w)
        return x + y


class VaeMidBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.attentions = nn.ModuleList([VaeAttention(c, groups)])
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, groups, 1e-6), ResnetBlock2D(c, c, groups, 1e-6)])

    def forward(self, x):
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        return self.resnets[1](x)


class DownEncoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, groups, add_down):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups, 1e-6) for i in range(layers)])
        if add_down:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, padding=0)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        if hasattr(self, "downsamplers"):
            x = self.downsamplers[0](x)
        return x


class UpDecoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, groups, add_up):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups, 1e-6) for i in range(layers)])
        if add_up:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        if hasattr(self, "upsamplers"):
            x = self.upsamplers[0](x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g, n = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([
            DownEncoderBlock2D(ch[max(i - 1, 0)], ch[i], n, g, i < len(ch) - 1) for i in range(len(ch))])
        self.mid_block = VaeMidBlock(ch[-1], g)
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g, n = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
        rev = list(reversed(ch))
        self.conv_in = nn.Conv2d(cfg["latent_channels"], ch[-1], 3, padding=1)
        self.mid_block = VaeMidBlock(ch[-1], g)
        self.up_blocks = nn.ModuleList([
            UpDecoderBlock2D(rev[max(i - 1, 0)], rev[i], n + 1, g, i < len(ch) - 1) for i in range(len(ch))])
        self.conv_norm_out = nn.GroupNorm(g, ch[0], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        lc = cfg["latent_channels"]
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, 1)
        self.post_quant_conv = nn.Conv2d(lc, lc, 1)

    def encode(self, x):
        """Returns (mean, logvar) of the latent distribution (logvar clamped as diffusers does)."""
        m = self.quant_conv(self.encoder(x))
        mean, logvar = m.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ---------------------------------------------------------------------------------------------------------------------
# UNet2DConditionModel

class CrossAttention(nn.Module):
    """diffusers Attention as used in BasicTransformerBlock: no q/k/v bias, biased to_out.0."""

    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(ctx_dim, dim, bias=False)
        self.to_v = nn.Linear(ctx_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        return self.to_out[0](attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = CrossAttention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = CrossAttention(dim, ctx_dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ctx)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    def __init__(self, c, ctx_dim, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, ctx_dim, heads)])
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        for blk in self.transformer_blocks:
            y = blk(y, ctx)
        y = y.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.proj_out(y) + x


class UNetDownBlock(nn.Module):
    def __init__(self, cin, cout, temb, layers, cross, ctx_dim, heads, groups, eps, add_down):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups, eps, temb)
                                      for i in range(layers)])
        if cross:
            self.attentions = nn.ModuleList([Transformer2DModel(cout, ctx_dim, heads, groups) for _ in range(layers)])
        if add_down:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, padding=1)])

    def forward(self, x, temb, ctx):
        states = []
        for i, r in enumerate(self.resnets):
            x = r(x, temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, ctx)
            states.append(x)
        if hasattr(self, "downsamplers"):
            x = self.downsamplers[0](x)
            states.append(x)
        return x, states


class UNetUpBlock(nn.Module):
    def __init__(self, cin, prev, cout, temb, layers, cross, ctx_dim, heads, groups, eps, add_up):
        super().__init__()
        res = []
        for i in range(layers):
            skip = cin if i == layers - 1 else cout
            rin = prev if i == 0 else cout
            res.append(ResnetBlock2D(rin + skip, cout, groups, eps, temb))
        self.resnets = nn.ModuleList(res)
        if cross:
            self.attentions = nn.ModuleList([Transformer2DModel(cout, ctx_dim, heads, groups) for _ in range(layers)])
        if add_up:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x, skips, temb, ctx):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, ctx)
        if hasattr(self, "upsamplers"):
            x = self.upsamplers[0](x)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, c, temb, ctx_dim, heads, groups, eps):
        super().__init__()
        self.attentions = nn.ModuleList([Transformer2DModel(c, ctx_dim, heads, groups)])
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, groups, eps, temb), ResnetBlock2D(c, c, groups, eps, temb)])

    def forward(self, x, temb, ctx):
        x = self.resnets[0](x, temb)
        x = self.attentions[0](x, ctx)
        return self.resnets[1](x, temb)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


def timestep_features(t, dim):
    """diffusers Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = cfg["block_out_channels"]
        g, eps, n = cfg["norm_num_groups"], cfg["norm_eps"], cfg["layers_per_block"]
        heads = cfg["attention_head_dim"]
        heads = heads if isinstance(heads, list) else [heads] * len(ch)
        ctx = cfg["cross_attention_dim"]
        temb = 4 * ch[0]
        self.ch0 = ch[0]
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        downs = []
        for i, kind in enumerate(cfg["down_block_types"]):
            downs.append(UNetDownBlock(ch[max(i - 1, 0)] if i > 0 else ch[0], ch[i], temb, n,
                                       kind == "CrossAttnDownBlock2D", ctx, heads[i], g, eps, i < len(ch) - 1))
        self.down_blocks = nn.ModuleList(downs)
        self.mid_block = UNetMidBlock2DCrossAttn(ch[-1], temb, ctx, heads[-1], g, eps)
        rev, rheads = list(reversed(ch)), list(reversed(heads))
        ups = []
        prev = ch[-1]
        for i, kind in enumerate(cfg["up_block_types"]):
            cin = rev[min(i + 1, len(ch) - 1)]
            ups.append(UNetUpBlock(cin, prev, rev[i], temb, n + 1, kind == "CrossAttnUpBlock2D", ctx, rheads[i], g, eps,
                                   i < len(ch) - 1))
            prev = rev[i]
        self.up_blocks = nn.ModuleList(ups)
        self.conv_norm_out = nn.GroupNorm(g, ch[0], eps=eps)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, x, t, ctx):
        temb = self.time_embedding(timestep_features(t, self.ch0))
        x = self.conv_in(x)
        skips = [x]
        for b in self.down_blocks:
            x, states = b(x, temb, ctx)
            skips.extend(states)
        x = self.mid_block(x, temb, ctx)
        for b in self.up_blocks:
            k = len(b.resnets)
            x = b(x, skips[-k:], temb, ctx)
            del skips[-k:]
        return self.conv_out(F.silu(self.conv_norm_out(x)))
